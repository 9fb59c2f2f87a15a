using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

/// <summary>An ILGPU device allocation.</summary>
internal sealed class IlgpuBuffer<T> : DeviceBuffer<T> where T : unmanaged
{
    private readonly IlgpuBackend _backend;
    private readonly BufferPool<MemoryBuffer1D<T, Stride1D.Dense>> _pool;
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _buffer;

    public IlgpuBuffer(IlgpuBackend backend, BufferPool<MemoryBuffer1D<T, Stride1D.Dense>> pool,
        MemoryBuffer1D<T, Stride1D.Dense> buffer, int length) : base(backend, length)
    {
        _backend = backend;
        _pool = pool;
        _buffer = buffer;
    }

    /// <summary>The first <see cref="DeviceBuffer{T}.Length"/> elements as a kernel argument.</summary>
    public ArrayView<T> View => _buffer.View.SubView(0, Length);

    protected override void CopyFromCore(ReadOnlySpan<T> source)
    {
        if (Length > 0)
        {
            _backend.LaunchCounters.HostToDevice();
            _backend.LaunchCounters.Synchronization(); // ILGPU copies a span synchronously
            View.CopyFromCPU(source);
        }
    }

    protected override void CopyToCore(Span<T> destination)
    {
        if (Length > 0)
        {
            _backend.LaunchCounters.DeviceToHost(); // DeviceBuffer.CopyTo synchronised (and counted) first
            View.CopyToCPU(destination);
        }
    }

    protected override void FillCore(T value) => _backend.FillView(View, value);

    protected override unsafe void Release() => _pool.Return(typeof(T), Length, sizeof(T), _buffer);
}
