using System.Runtime.CompilerServices;

namespace Lddm.Kernels.Cpu;

/// <summary>A pinned host array (pinned-object heap) so kernels can take stable pointers into it.</summary>
internal sealed unsafe class CpuBuffer<T> : DeviceBuffer<T> where T : unmanaged
{
    private readonly BufferPool<T[]> _pool;
    private readonly T[] _array;
    private readonly int _offset;
    private readonly bool _owns;

    public CpuBuffer(Backend backend, BufferPool<T[]> pool, T[] array, int length) : this(backend, pool, array, 0, length, owns: true)
    {
    }

    private CpuBuffer(Backend backend, BufferPool<T[]> pool, T[] array, int offset, int length, bool owns) : base(backend, length)
    {
        _pool = pool;
        _array = array;
        _offset = offset;
        _owns = owns;
    }

    public override bool IsSlice => !_owns;

    public Span<T> Span => _array.AsSpan(_offset, Length);

    /// <summary>Stable pointer to element 0 (the array lives on the pinned-object heap).</summary>
    public T* Pointer => (T*)Unsafe.AsPointer(ref _array[_offset]);

    protected override DeviceBuffer<T> SliceCore(int offset, int length) =>
        new CpuBuffer<T>(Backend, _pool, _array, _offset + offset, length, owns: false);

    protected override void CopyFromCore(ReadOnlySpan<T> source) => source.CopyTo(Span);

    protected override void CopyToCore(Span<T> destination) => Span.CopyTo(destination);

    /// <summary>Below this many bytes a fill stays on the calling thread.</summary>
    private const int FillChunkBytes = 1 << 16;

    /// <summary>Fills on the backend's worker pool: gradient buffers are zero-filled before every backward.</summary>
    protected override void FillCore(T value)
    {
        int chunk = Math.Max(1, FillChunkBytes / sizeof(T));
        if (Length < 2 * chunk || Backend is not CpuBackend cpu)
        {
            Span.Fill(value);
            return;
        }
        var array = _array;
        int origin = _offset;
        cpu.Pool.For(Length, chunk, (start, end) => array.AsSpan(origin + start, end - start).Fill(value));
    }

    protected override void Release()
    {
        if (_owns)
        {
            _pool.Return(typeof(T), Length, sizeof(T), _array);
        }
    }
}
