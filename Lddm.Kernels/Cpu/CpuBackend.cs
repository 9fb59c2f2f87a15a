using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lddm.Kernels.Cpu;

/// <summary>
/// The production CPU backend: hand-written SIMD kernels (Vector512 with FMA where the CPU has AVX-512,
/// Vector256 otherwise, scalar tails), multi-threaded over the cores. Buffers are pinned host arrays.
/// Kernels run synchronously, so <see cref="Synchronize"/> has nothing to wait for.
/// </summary>
public sealed partial class CpuBackend : Backend
{
    private readonly Dictionary<Type, IBufferPool> _pools = new();
    private readonly object _gate = new();

    /// <summary>
    /// A CPU backend whose kernels use <paramref name="threads"/> threads (default: every core). The count belongs to
    /// this backend: other backends in the process keep theirs, each with its own worker pool.
    /// </summary>
    public CpuBackend(int? threads = null)
    {
        if (threads is { } t)
        {
            Check.Positive(t, nameof(CpuBackend), nameof(threads));
        }
        Pool = new CpuParallel(threads ?? Environment.ProcessorCount);
    }

    /// <summary>The threads each kernel call may use, the calling thread included.</summary>
    public int Threads => Pool.Threads;

    /// <summary>This backend's worker pool.</summary>
    internal CpuParallel Pool { get; }

    /// <summary>The widest vector ISA the kernels use on this machine.</summary>
    public static string Isa =>
        Vector512.IsHardwareAccelerated ? "AVX-512" :
        Avx2.IsSupported && Fma.IsSupported ? "AVX2+FMA" :
        Vector256.IsHardwareAccelerated ? "AVX" : "scalar/SSE";

    public override string Name => $"cpu ({Isa}, {Threads} threads)";

    public override BackendKind Kind => BackendKind.Cpu;

    public override void Synchronize()
    {
    }

    public override PoolStatistics PoolStatistics
    {
        get
        {
            long live = 0, cached = 0, count = 0, peak = 0;
            lock (_gate)
            {
                foreach (var pool in _pools.Values)
                {
                    live += pool.LiveBytes;
                    cached += pool.CachedBytes;
                    count += pool.LiveBuffers;
                    peak += pool.PeakLiveBytes;
                }
            }
            return new PoolStatistics(live, cached, count, peak);
        }
    }

    public override void TrimPool()
    {
        lock (_gate)
        {
            foreach (var pool in _pools.Values)
            {
                pool.Trim();
            }
        }
    }

    public override void ResetPeakMemory()
    {
        lock (_gate)
        {
            foreach (var pool in _pools.Values)
            {
                pool.ResetPeak();
            }
        }
    }

    protected override unsafe DeviceBuffer<T> AllocateCore<T>(int length)
    {
        var pool = PoolFor<T>();
        // Length-0 buffers still get a 1-element array so Pointer stays valid.
        var array = pool.Rent(typeof(T), length, sizeof(T),
            () => GC.AllocateUninitializedArray<T>(Math.Max(1, length), pinned: true));
        return new CpuBuffer<T>(this, pool, array, length);
    }

    private BufferPool<T[]> PoolFor<T>() where T : unmanaged
    {
        lock (_gate)
        {
            if (!_pools.TryGetValue(typeof(T), out var pool))
            {
                pool = new BufferPool<T[]>(_ => { });
                _pools[typeof(T)] = pool;
            }
            return (BufferPool<T[]>)pool;
        }
    }

    /// <summary>Unwraps a validated buffer of this backend.</summary>
    internal static CpuBuffer<T> Raw<T>(DeviceBuffer<T> buffer) where T : unmanaged => (CpuBuffer<T>)buffer;

    protected override void Dispose(bool disposing)
    {
        TrimPool();
        Pool.Dispose();
    }
}
