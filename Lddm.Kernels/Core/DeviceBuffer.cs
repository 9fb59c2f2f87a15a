namespace Lddm.Kernels;

/// <summary>
/// A contiguous block of device memory holding <see cref="Length"/> elements of <typeparamref name="T"/>.
/// Buffers come from their backend's caching pool (<see cref="Backend.Allocate{T}"/>); disposing one returns
/// its storage to the pool. Contents of a freshly allocated buffer are undefined.
/// </summary>
public abstract class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    private bool _disposed;

    protected DeviceBuffer(Backend backend, int length)
    {
        Backend = backend;
        Length = length;
    }

    /// <summary>The backend that owns this memory; kernels only accept buffers of their own backend.</summary>
    public Backend Backend { get; }

    /// <summary>Number of elements.</summary>
    public int Length { get; }

    public bool IsDisposed => _disposed;

    /// <summary>True for a <see cref="Slice"/>: a view that owns no storage (disposing it frees nothing).</summary>
    public virtual bool IsSlice => false;

    /// <summary>
    /// A non-owning view of elements [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>)
    /// that every kernel accepts like a buffer of its own; valid while this buffer lives (disposing the slice frees
    /// nothing). Flat parameter, gradient and optimizer arenas hand out one slice per tensor.
    /// </summary>
    public DeviceBuffer<T> Slice(int offset, int length)
    {
        ThrowIfDisposed();
        if (offset < 0 || length < 0 || (long)offset + length > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"Slice [{offset}, {(long)offset + length}) does not lie in a buffer of {Length} elements.");
        }
        return SliceCore(offset, length);
    }

    protected abstract DeviceBuffer<T> SliceCore(int offset, int length);

    /// <summary>Copies <paramref name="source"/> (exactly <see cref="Length"/> elements) to the device.</summary>
    public void CopyFrom(ReadOnlySpan<T> source)
    {
        ThrowIfDisposed();
        if (source.Length != Length)
        {
            throw new ArgumentException(
                $"CopyFrom: source has {source.Length} elements but the buffer holds {Length}.", nameof(source));
        }
        CopyFromCore(source);
    }

    /// <summary>Copies the buffer (exactly <see cref="Length"/> elements) to <paramref name="destination"/>.</summary>
    public void CopyTo(Span<T> destination)
    {
        ThrowIfDisposed();
        if (destination.Length != Length)
        {
            throw new ArgumentException(
                $"CopyTo: destination has {destination.Length} elements but the buffer holds {Length}.", nameof(destination));
        }
        Backend.Synchronize();
        CopyToCore(destination);
    }

    public T[] ToArray()
    {
        var result = new T[Length];
        CopyTo(result);
        return result;
    }

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public void Fill(T value)
    {
        ThrowIfDisposed();
        FillCore(value);
    }

    protected abstract void CopyFromCore(ReadOnlySpan<T> source);
    protected abstract void CopyToCore(Span<T> destination);
    protected abstract void FillCore(T value);

    /// <summary>Hands the storage back to the backend's pool.</summary>
    protected abstract void Release();

    internal void ThrowIfDisposed()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Release();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => $"{typeof(T).Name}[{Length}] on {Backend.Name}";
}
