using Xunit;

namespace Lddm.Kernels.Tests.Support;

/// <summary>
/// A view <see cref="Offset"/> floats into an allocation with NaN on both sides: offset 1 (or 2, 3) makes a view an
/// arena slice that is not 16-byte aligned, so an ILGPU row kernel must take its float path; <see cref="AssertGuardsIntact"/>
/// proves nothing was written outside the view.
/// </summary>
public sealed class SlicedBuffer : IDisposable
{
    private const int Slack = 5;
    private readonly DeviceBuffer<float> _whole;

    public SlicedBuffer(Backend backend, float[] data, int offset)
    {
        Offset = offset;
        _whole = backend.Full(offset + data.Length + Slack, float.NaN);
        View = _whole.Slice(offset, data.Length);
        View.CopyFrom(data);
    }

    public int Offset { get; }

    public DeviceBuffer<float> View { get; }

    public void AssertGuardsIntact(string context)
    {
        var all = _whole.ToArray();
        Assert.True(all.Take(Offset).Concat(all.Skip(Offset + View.Length)).All(float.IsNaN),
            $"{context}: wrote outside the view at offset {Offset}");
    }

    public void Dispose()
    {
        View.Dispose();
        _whole.Dispose();
    }
}
