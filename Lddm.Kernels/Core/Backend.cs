namespace Lddm.Kernels;

/// <summary>Which implementation family a backend belongs to.</summary>
public enum BackendKind
{
    /// <summary>Hand-written SIMD kernels on the host CPU (the production CPU path).</summary>
    Cpu,

    /// <summary>ILGPU on an NVIDIA GPU.</summary>
    Cuda,

    /// <summary>ILGPU on an OpenCL 2.0 device.</summary>
    OpenCL,

    /// <summary>ILGPU's CPU accelerator: a faithful, slow simulator of the GPU kernels, for tests.</summary>
    IlgpuCpu,
}

/// <summary>
/// The one device abstraction: owns device memory and exposes every kernel as a method.
/// Public kernel methods validate their arguments (shapes, lengths, ownership) and then call a protected
/// <c>…Core</c> method that each backend implements. The kernel families live in partial files, one folder
/// per family (contract, SIMD CPU version, ILGPU version, float64 reference).
/// </summary>
public abstract partial class Backend : IDisposable
{
    private bool _disposed;

    /// <summary>Human-readable device name, e.g. "cpu (AVX-512, 2 threads)".</summary>
    public abstract string Name { get; }

    public abstract BackendKind Kind { get; }

    /// <summary>Allocates an uninitialised buffer of <paramref name="length"/> elements from the pool.</summary>
    public DeviceBuffer<T> Allocate<T>(int length) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return AllocateCore<T>(length);
    }

    /// <summary>Allocates a buffer and copies <paramref name="data"/> into it.</summary>
    public DeviceBuffer<T> Upload<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var buffer = Allocate<T>(data.Length);
        buffer.CopyFrom(data);
        return buffer;
    }

    /// <summary>Allocates a buffer with every element set to <paramref name="value"/>.</summary>
    public DeviceBuffer<T> Full<T>(int length, T value) where T : unmanaged
    {
        var buffer = Allocate<T>(length);
        buffer.Fill(value);
        return buffer;
    }

    /// <summary>Waits until every kernel launched so far has finished.</summary>
    public abstract void Synchronize();

    /// <summary>
    /// Launches, synchronisations and host↔device copies so far (ILGPU backends count them; the CPU backend's kernels
    /// are calls on the host, so it reports zeros).
    /// </summary>
    public virtual BackendCounters Counters => default;

    /// <summary>Current pool occupancy.</summary>
    public abstract PoolStatistics PoolStatistics { get; }

    /// <summary>Frees every cached buffer the pool holds (live buffers are untouched).</summary>
    public abstract void TrimPool();

    /// <summary>Restarts <see cref="PoolStatistics.PeakLiveBytes"/> from the current live total.</summary>
    public abstract void ResetPeakMemory();

    protected abstract DeviceBuffer<T> AllocateCore<T>(int length) where T : unmanaged;

    protected virtual void Dispose(bool disposing)
    {
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    public override string ToString() => Name;
}
