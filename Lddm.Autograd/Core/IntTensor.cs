using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// An int32 tensor (token ids, targets, lengths): no gradient. Tracked by the current tape like any temporary
/// when created inside one; otherwise owned by the caller.
/// </summary>
public sealed class IntTensor : IDisposable
{
    private bool _disposed;

    private IntTensor(Shape shape, DeviceBuffer<int> data)
    {
        Shape = shape;
        Data = data;
    }

    public Shape Shape { get; }

    public DeviceBuffer<int> Data { get; }

    public Backend Backend => Data.Backend;

    public bool IsDisposed => _disposed;

    public static IntTensor FromArray(Backend backend, ReadOnlySpan<int> values, params int[] shape)
    {
        var s = new Shape(shape);
        if (values.Length != s.Elements)
        {
            throw new ArgumentException($"IntTensor.FromArray: {values.Length} values do not fill shape {s} ({s.Elements} elements).", nameof(values));
        }
        var t = new IntTensor(s, backend.Upload(values));
        Tape.Track(t);
        return t;
    }

    public static IntTensor Empty(Backend backend, params int[] shape)
    {
        var s = new Shape(shape);
        var t = new IntTensor(s, backend.Allocate<int>(s.Elements));
        Tape.Track(t);
        return t;
    }

    public int[] ToArray() => Data.ToArray();

    internal void ThrowIfDisposed(string op)
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(nameof(IntTensor), $"{op}: an int tensor of shape {Shape} was used after it was disposed.");
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Data.Dispose();
    }

    public override string ToString() => $"IntTensor{Shape} on {Backend.Name}";
}
