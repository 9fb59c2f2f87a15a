using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

/// <summary>An ILGPU device allocation.</summary>
internal sealed class IlgpuBuffer<T> : DeviceBuffer<T> where T : unmanaged
{
    private readonly IlgpuBackend _backend;
    private readonly BufferPool<MemoryBuffer1D<T, Stride1D.Dense>> _pool;
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _buffer;
    private readonly int _offset;
    private readonly bool _owns;

    public IlgpuBuffer(IlgpuBackend backend, BufferPool<MemoryBuffer1D<T, Stride1D.Dense>> pool,
        MemoryBuffer1D<T, Stride1D.Dense> buffer, int length) : this(backend, pool, buffer, 0, length, owns: true)
    {
    }

    private IlgpuBuffer(IlgpuBackend backend, BufferPool<MemoryBuffer1D<T, Stride1D.Dense>> pool,
        MemoryBuffer1D<T, Stride1D.Dense> buffer, int offset, int length, bool owns) : base(backend, length)
    {
        _backend = backend;
        _pool = pool;
        _buffer = buffer;
        _offset = offset;
        _owns = owns;
    }

    public override bool IsSlice => !_owns;

    /// <summary>The device allocation this buffer (or slice) lies in.</summary>
    internal MemoryBuffer1D<T, Stride1D.Dense> Root => _buffer;

    /// <summary>Where this buffer starts in <see cref="Root"/>.</summary>
    internal int Offset => _offset;

    /// <summary>The <see cref="DeviceBuffer{T}.Length"/> elements as a kernel argument.</summary>
    public ArrayView<T> View => _buffer.View.SubView(_offset, Length);

    protected override DeviceBuffer<T> SliceCore(int offset, int length) =>
        new IlgpuBuffer<T>(_backend, _pool, _buffer, _offset + offset, length, owns: false);

    protected override void CopyFromCore(ReadOnlySpan<T> source)
    {
        if (Length > 0)
        {
            _backend.LaunchCounters.HostToDevice();
            if (!_backend.TryStagedCopy(source, View))
            {
                _backend.LaunchCounters.Synchronization(); // ILGPU copies a span synchronously
                View.CopyFromCPU(source);
            }
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

    protected override unsafe void Release()
    {
        if (_owns)
        {
            _pool.Return(typeof(T), Length, sizeof(T), _buffer);
        }
    }
}
