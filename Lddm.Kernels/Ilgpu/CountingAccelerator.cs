// One counting overload per delegate arity (1 to 12 kernel arguments) for each of the two loading methods used.
using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// The accelerator as the kernel files see it (<c>_accelerator</c>): the same loading methods as ILGPU's, but every
/// delegate they return counts its launches into <see cref="LaunchCounters"/> first. Counting happens here, once,
/// so no kernel file counts by hand and a newly loaded kernel is counted without touching it; a loading method not
/// listed here does not compile, rather than slipping past the count.
/// </summary>
internal sealed class CountingAccelerator(Accelerator accelerator, LaunchCounters counters)
{
    /// <summary>The wrapped ILGPU accelerator (its own kernels would not be counted: load through this class).</summary>
    public Accelerator Raw => accelerator;

    public string Name => accelerator.Name;

    public long MemorySize => accelerator.MemorySize;

    public int WarpSize => accelerator.WarpSize;

    public int MaxNumThreadsPerGroup => accelerator.MaxNumThreadsPerGroup;

    public AcceleratorType AcceleratorType => accelerator.AcceleratorType;

    public MemoryBuffer1D<T, Stride1D.Dense> Allocate1D<T>(long length) where T : unmanaged => accelerator.Allocate1D<T>(length);

    /// <summary>Allocates and uploads <paramref name="data"/> (a synchronous copy: one host→device copy and one synchronisation, like an unstaged buffer upload).</summary>
    public MemoryBuffer1D<T, Stride1D.Dense> Allocate1D<T>(T[] data) where T : unmanaged
    {
        counters.HostToDevice();
        counters.Synchronization();
        return accelerator.Allocate1D(data);
    }

    private long _finishedSynchronizations;

    /// <summary>
    /// Held by <see cref="Synchronize"/> while it waits; work queued while holding it is therefore queued either
    /// before a whole wait or after it, never during one (<see cref="HostStaging"/> queues its copies under it).
    /// </summary>
    public object SynchronizationGate { get; } = new();

    /// <summary>Waits for the default stream (counted as one synchronisation).</summary>
    public void Synchronize()
    {
        counters.Synchronization();
        lock (SynchronizationGate)
        {
            accelerator.Synchronize();
            _finishedSynchronizations++;
        }
    }

    /// <summary>
    /// How many <see cref="Synchronize"/> calls have returned. Read under <see cref="SynchronizationGate"/>: when it
    /// has grown since work was queued under the gate, that work has finished (<see cref="HostStaging"/> reuses its
    /// page-locked bytes on this evidence).
    /// </summary>
    public long FinishedSynchronizations => _finishedSynchronizations;

    public void Dispose() => accelerator.Dispose();

    public Action<TIndex, T1> LoadAutoGroupedStreamKernel<TIndex, T1>(Action<TIndex, T1> action)
        where TIndex : struct, IIndex where T1 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1) =>
        {
            counters.Launch();
            kernel(index, a1);
        };
    }

    public Action<KernelConfig, T1> LoadStreamKernel<T1>(Action<T1> action)
        where T1 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1) =>
        {
            counters.Launch();
            kernel(config, a1);
        };
    }

    public Action<TIndex, T1, T2> LoadAutoGroupedStreamKernel<TIndex, T1, T2>(Action<TIndex, T1, T2> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2) =>
        {
            counters.Launch();
            kernel(index, a1, a2);
        };
    }

    public Action<KernelConfig, T1, T2> LoadStreamKernel<T1, T2>(Action<T1, T2> action)
        where T1 : struct where T2 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2) =>
        {
            counters.Launch();
            kernel(config, a1, a2);
        };
    }

    public Action<TIndex, T1, T2, T3> LoadAutoGroupedStreamKernel<TIndex, T1, T2, T3>(Action<TIndex, T1, T2, T3> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2, a3) =>
        {
            counters.Launch();
            kernel(index, a1, a2, a3);
        };
    }

    public Action<KernelConfig, T1, T2, T3> LoadStreamKernel<T1, T2, T3>(Action<T1, T2, T3> action)
        where T1 : struct where T2 : struct where T3 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2, a3) =>
        {
            counters.Launch();
            kernel(config, a1, a2, a3);
        };
    }

    public Action<TIndex, T1, T2, T3, T4> LoadAutoGroupedStreamKernel<TIndex, T1, T2, T3, T4>(Action<TIndex, T1, T2, T3, T4> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct where T4 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2, a3, a4) =>
        {
            counters.Launch();
            kernel(index, a1, a2, a3, a4);
        };
    }

    public Action<KernelConfig, T1, T2, T3, T4> LoadStreamKernel<T1, T2, T3, T4>(Action<T1, T2, T3, T4> action)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2, a3, a4) =>
        {
            counters.Launch();
            kernel(config, a1, a2, a3, a4);
        };
    }

    public Action<TIndex, T1, T2, T3, T4, T5> LoadAutoGroupedStreamKernel<TIndex, T1, T2, T3, T4, T5>(Action<TIndex, T1, T2, T3, T4, T5> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2, a3, a4, a5) =>
        {
            counters.Launch();
            kernel(index, a1, a2, a3, a4, a5);
        };
    }

    public Action<KernelConfig, T1, T2, T3, T4, T5> LoadStreamKernel<T1, T2, T3, T4, T5>(Action<T1, T2, T3, T4, T5> action)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2, a3, a4, a5) =>
        {
            counters.Launch();
            kernel(config, a1, a2, a3, a4, a5);
        };
    }

    public Action<TIndex, T1, T2, T3, T4, T5, T6> LoadAutoGroupedStreamKernel<TIndex, T1, T2, T3, T4, T5, T6>(Action<TIndex, T1, T2, T3, T4, T5, T6> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2, a3, a4, a5, a6) =>
        {
            counters.Launch();
            kernel(index, a1, a2, a3, a4, a5, a6);
        };
    }

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6> LoadStreamKernel<T1, T2, T3, T4, T5, T6>(Action<T1, T2, T3, T4, T5, T6> action)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2, a3, a4, a5, a6) =>
        {
            counters.Launch();
            kernel(config, a1, a2, a3, a4, a5, a6);
        };
    }

    public Action<TIndex, T1, T2, T3, T4, T5, T6, T7> LoadAutoGroupedStreamKernel<TIndex, T1, T2, T3, T4, T5, T6, T7>(Action<TIndex, T1, T2, T3, T4, T5, T6, T7> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2, a3, a4, a5, a6, a7) =>
        {
            counters.Launch();
            kernel(index, a1, a2, a3, a4, a5, a6, a7);
        };
    }

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7> LoadStreamKernel<T1, T2, T3, T4, T5, T6, T7>(Action<T1, T2, T3, T4, T5, T6, T7> action)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2, a3, a4, a5, a6, a7) =>
        {
            counters.Launch();
            kernel(config, a1, a2, a3, a4, a5, a6, a7);
        };
    }

    public Action<TIndex, T1, T2, T3, T4, T5, T6, T7, T8> LoadAutoGroupedStreamKernel<TIndex, T1, T2, T3, T4, T5, T6, T7, T8>(Action<TIndex, T1, T2, T3, T4, T5, T6, T7, T8> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2, a3, a4, a5, a6, a7, a8) =>
        {
            counters.Launch();
            kernel(index, a1, a2, a3, a4, a5, a6, a7, a8);
        };
    }

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8> LoadStreamKernel<T1, T2, T3, T4, T5, T6, T7, T8>(Action<T1, T2, T3, T4, T5, T6, T7, T8> action)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2, a3, a4, a5, a6, a7, a8) =>
        {
            counters.Launch();
            kernel(config, a1, a2, a3, a4, a5, a6, a7, a8);
        };
    }

    public Action<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9> LoadAutoGroupedStreamKernel<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2, a3, a4, a5, a6, a7, a8, a9) =>
        {
            counters.Launch();
            kernel(index, a1, a2, a3, a4, a5, a6, a7, a8, a9);
        };
    }

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9> LoadStreamKernel<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9> action)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2, a3, a4, a5, a6, a7, a8, a9) =>
        {
            counters.Launch();
            kernel(config, a1, a2, a3, a4, a5, a6, a7, a8, a9);
        };
    }

    public Action<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> LoadAutoGroupedStreamKernel<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) =>
        {
            counters.Launch();
            kernel(index, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10);
        };
    }

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> LoadStreamKernel<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> action)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) =>
        {
            counters.Launch();
            kernel(config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10);
        };
    }

    public Action<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> LoadAutoGroupedStreamKernel<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(Action<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) =>
        {
            counters.Launch();
            kernel(index, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
        };
    }

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> LoadStreamKernel<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> action)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) =>
        {
            counters.Launch();
            kernel(config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
        };
    }

    public Action<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12> LoadAutoGroupedStreamKernel<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12>(Action<TIndex, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12> action)
        where TIndex : struct, IIndex where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct where T12 : struct
    {
        var kernel = accelerator.LoadAutoGroupedStreamKernel(action);
        return (index, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) =>
        {
            counters.Launch();
            kernel(index, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12);
        };
    }

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12> LoadStreamKernel<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12> action)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct where T12 : struct
    {
        var kernel = accelerator.LoadStreamKernel(action);
        return (config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) =>
        {
            counters.Launch();
            kernel(config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12);
        };
    }
}
