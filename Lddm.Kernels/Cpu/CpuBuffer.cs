using System.Runtime.CompilerServices;

namespace Lddm.Kernels.Cpu;

/// <summary>A pinned host array (pinned-object heap) so kernels can take stable pointers into it.</summary>
internal sealed unsafe class CpuBuffer<T> : DeviceBuffer<T> where T : unmanaged
{
    private readonly BufferPool<T[]> _pool;
    private readonly T[] _array;

    public CpuBuffer(Backend backend, BufferPool<T[]> pool, T[] array, int length) : base(backend, length)
    {
        _pool = pool;
        _array = array;
    }

    public Span<T> Span => _array.AsSpan(0, Length);

    /// <summary>Stable pointer to element 0 (the array lives on the pinned-object heap).</summary>
    public T* Pointer => (T*)Unsafe.AsPointer(ref _array[0]);

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
        cpu.Pool.For(Length, chunk, (start, end) => array.AsSpan(start, end - start).Fill(value));
    }

    protected override void Release() => _pool.Return(typeof(T), Length, sizeof(T), _array);
}
