using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// An int32 tensor (token ids, targets, lengths): no gradient. Tracked by the current tape like any temporary
/// when created inside one; otherwise owned by the caller.
/// </summary>
public sealed class IntTensor : IDisposable
{
    private bool _disposed;

    private IntTensor(Shape shape, DeviceBuffer<int> data, int? checkedBound = null)
    {
        Shape = shape;
        Data = data;
        CheckedBound = checkedBound;
    }

    public Shape Shape { get; }

    public DeviceBuffer<int> Data { get; }

    public Backend Backend => Data.Backend;

    public bool IsDisposed => _disposed;

    /// <summary>
    /// Null, or a bound B such that every id was checked on the host to lie in [0, B) before it was uploaded
    /// (<see cref="FromIds"/>). Ops that index with ids (embedding, SUBS cross-entropy) then skip their own check,
    /// which copies the ids back (on a GPU, a synchronisation); ops never write an IntTensor they read, so the bound
    /// stays true.
    /// </summary>
    public int? CheckedBound { get; }

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

    /// <summary>
    /// <see cref="FromArray"/> for token ids known to the host: each must lie in [0, <paramref name="bound"/>), else
    /// <see cref="ArgumentOutOfRangeException"/> names its position and value; the tensor carries
    /// <see cref="CheckedBound"/> = <paramref name="bound"/>.
    /// </summary>
    public static IntTensor FromIds(Backend backend, ReadOnlySpan<int> ids, int bound, params int[] shape)
    {
        var s = new Shape(shape);
        if (ids.Length != s.Elements)
        {
            throw new ArgumentException($"IntTensor.FromIds: {ids.Length} ids do not fill shape {s} ({s.Elements} elements).", nameof(ids));
        }
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)bound)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), ids[i],
                    $"IntTensor.FromIds: ids[{i}] = {ids[i]} is not a token id in [0, {bound}).");
            }
        }
        var t = new IntTensor(s, backend.Upload(ids), bound);
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
