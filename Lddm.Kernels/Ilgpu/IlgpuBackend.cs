using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// Runs the ILGPU kernels on one ILGPU accelerator: CUDA, OpenCL, or ILGPU's CPU accelerator (a correctness
/// simulator, never a production path). Kernels are loaded on first use and kept in fields, because the
/// accelerator's own kernel cache holds them only weakly.
/// </summary>
public sealed partial class IlgpuBackend : Backend
{
    private readonly Context _context;
    private readonly CountingAccelerator _accelerator; // every kernel loaded through it counts its launches
    private readonly LaunchCounters _counters = new();
    private readonly HostStaging? _staging; // null: uploads copy synchronously
    private readonly Dictionary<Type, IBufferPool> _pools = new();
    private readonly Dictionary<Type, Delegate> _fillKernels = new();
    private readonly object _gate = new();
    private readonly HashSet<string> _loadedTwins = [];

    private IlgpuBackend(Context context, Accelerator accelerator, BackendKind kind, bool useWarpShuffles,
        bool useMmaMatmul = false, bool mmaBf16 = false, bool stagedUploads = true)
    {
        _context = context;
        _accelerator = new CountingAccelerator(accelerator, _counters);
        // Staged (asynchronous) uploads on CUDA and the simulator; OpenCL keeps ILGPU's synchronous copy (ILGPU does not
        // page-lock memory there, and no OpenCL device has run the staged path).
        _staging = stagedUploads && (kind is BackendKind.Cuda or BackendKind.IlgpuCpu) ? new HostStaging(_accelerator) : null;
        Kind = kind;
        UseWarpShuffles = useWarpShuffles;
        UseMmaMatmul = useMmaMatmul || mmaBf16;
        MmaBf16 = mmaBf16;
    }

    /// <summary>
    /// The environment variable that opts CUDA into the TF32 tensor-core GEMM (<c>LDDM_CUDA_MMA=1</c>). Off by
    /// default until a GPU run validates the kernel on hardware (it is proven on the simulator and by ptxas only).
    /// </summary>
    public const string MmaEnvironmentVariable = "LDDM_CUDA_MMA";

    /// <summary>True when <see cref="MmaEnvironmentVariable"/> is "1" (TF32) or "bf16" (BF16 inputs).</summary>
    public static bool MmaOptedIn => Environment.GetEnvironmentVariable(MmaEnvironmentVariable) is "1" or "bf16";

    /// <summary>True when <see cref="MmaEnvironmentVariable"/> is "bf16": the tensor-core GEMM takes BF16 inputs.</summary>
    public static bool MmaBf16OptedIn => Environment.GetEnvironmentVariable(MmaEnvironmentVariable) == "bf16";

    /// <summary>
    /// The environment variable that opts the CUDA TF32 tensor-core GEMM into <c>cp.async</c> tile loads
    /// (<c>LDDM_CUDA_MMA_ASYNC=1</c>, <c>MatmulMmaAsyncIlgpuKernels</c>), for A and B as stored and quad-aligned. Off by
    /// default: proven by ptxas only, never run on a GPU (the simulator cannot run it).
    /// </summary>
    public const string MmaAsyncEnvironmentVariable = "LDDM_CUDA_MMA_ASYNC";

    /// <summary>True when <see cref="MmaAsyncEnvironmentVariable"/> was "1" when the process first asked.</summary>
    private static bool UseAsyncCopy { get; } = Environment.GetEnvironmentVariable(MmaAsyncEnvironmentVariable) == "1";

    /// <summary>ILGPU's CPU accelerator running the warp-shuffle kernels, as CUDA does.</summary>
    public static IlgpuBackend CreateCpuSimulator() => CreateCpuSimulator(useWarpShuffles: true);

    /// <summary>
    /// Creates ILGPU's CPU accelerator: the GPU kernels run on host threads, with real groups and barriers.
    /// <paramref name="useWarpShuffles"/> false runs the OpenCL path (the shared-memory twins of the shuffle kernels)
    /// so both paths are tested against the references on the simulator.
    /// </summary>
    public static IlgpuBackend CreateCpuSimulator(bool useWarpShuffles) => CreateCpuSimulator(useWarpShuffles, false);

    /// <summary>
    /// As <see cref="CreateCpuSimulator(bool)"/>; <paramref name="useMmaMatmul"/> runs matmul through the tensor-core
    /// kernel's emulation path (the same kernel body, the <c>mma.sync</c> fragments multiplied through a per-warp
    /// shared-memory exchange).
    /// </summary>
    public static IlgpuBackend CreateCpuSimulator(bool useWarpShuffles, bool useMmaMatmul) =>
        CreateCpuSimulator(useWarpShuffles, useMmaMatmul, mmaBf16: false);

    /// <summary>
    /// As <see cref="CreateCpuSimulator(bool, bool)"/>; <paramref name="mmaBf16"/> runs matmul through the BF16-input
    /// tensor-core kernel's emulation (<c>MatmulMmaBf16IlgpuKernels</c>) instead of the TF32 one.
    /// </summary>
    public static IlgpuBackend CreateCpuSimulator(bool useWarpShuffles, bool useMmaMatmul, bool mmaBf16) =>
        CreateCpuSimulator(useWarpShuffles, useMmaMatmul, mmaBf16, stagedUploads: true);

    /// <summary>
    /// As <see cref="CreateCpuSimulator(bool, bool, bool)"/>; <paramref name="stagedUploads"/> false makes every
    /// host→device copy wait, as ILGPU's own span copy does, instead of queueing it from page-locked staging memory
    /// (<see cref="UsesStagedUploads"/>): tests run a program both ways and compare the bits.
    /// </summary>
    public static IlgpuBackend CreateCpuSimulator(bool useWarpShuffles, bool useMmaMatmul, bool mmaBf16, bool stagedUploads)
    {
        var context = IlgpuContexts.Create();
        try
        {
            return new IlgpuBackend(context, context.CreateCPUAccelerator(IlgpuContexts.SimulatorIndex(context)),
                BackendKind.IlgpuCpu, useWarpShuffles, useMmaMatmul, mmaBf16, stagedUploads);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>Creates a backend on the <paramref name="index"/>-th device of the given kind.</summary>
    public static IlgpuBackend Create(BackendKind kind, int index)
    {
        if (kind == BackendKind.IlgpuCpu)
        {
            return CreateCpuSimulator();
        }
        var context = IlgpuContexts.Create();
        try
        {
            var devices = IlgpuContexts.Devices(context, kind);
            if (index < 0 || index >= devices.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(index), index,
                    $"No {kind} device with index {index}: found {devices.Count}.");
            }
            // ILGPU 1.5.3 writes warp shuffles in OpenCL C only for devices it classifies as Intel (subgroups); any
            // other, like the CPU OpenCL runtime of the lent H200 machine, fails to compile them: every OpenCL
            // device takes the shared-memory twins.
            // The tensor-core GEMM is CUDA-only and opt-in (MmaEnvironmentVariable) until validated on hardware.
            return new IlgpuBackend(context, devices[index].CreateAccelerator(context), kind,
                useWarpShuffles: kind == BackendKind.Cuda, useMmaMatmul: kind == BackendKind.Cuda && MmaOptedIn,
                mmaBf16: kind == BackendKind.Cuda && MmaBf16OptedIn);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    internal Accelerator Accelerator => _accelerator.Raw;

    public override BackendCounters Counters => _counters.Snapshot();

    internal LaunchCounters LaunchCounters => _counters;

    /// <summary>
    /// True when host→device copies go through page-locked staging memory and do not wait (CUDA and the simulator,
    /// unless created without); false when each waits for the stream (OpenCL).
    /// </summary>
    public bool UsesStagedUploads => _staging is not null;

    /// <summary>
    /// Queues the upload of <paramref name="source"/> into <paramref name="target"/> through page-locked staging
    /// memory, without waiting (<see cref="HostStaging"/>); false when this backend copies synchronously instead
    /// (OpenCL, or an upload over <see cref="HostStaging.MaxBytes"/>).
    /// </summary>
    internal bool TryStagedCopy<T>(ReadOnlySpan<T> source, ArrayView<T> target) where T : unmanaged =>
        _staging is not null && _staging.TryCopy(source, target);

    /// <summary>
    /// True when the kernels marked <see cref="GpuKernelAttribute.WarpShuffles"/> are loaded (CUDA; the simulator by
    /// default); false when their <c>NoShuffle</c> twins, which reduce through shared memory, are (OpenCL).
    /// </summary>
    public bool UseWarpShuffles { get; }

    /// <summary>
    /// True when matmul runs the TF32 tensor-core kernel <c>MatmulMmaIlgpuKernels.MatmulMma</c> (CUDA with
    /// <see cref="MmaEnvironmentVariable"/>=1, or a simulator created with it: its emulation path) instead of the FP32
    /// CUDA-core kernel. TF32 inputs: products carry ~2⁻¹¹ relative rounding per operand.
    /// </summary>
    public bool UseMmaMatmul { get; }

    /// <summary>
    /// True when the tensor-core GEMM takes BF16 inputs (<c>MatmulMmaBf16IlgpuKernels</c>, <c>m16n8k16</c>; CUDA with
    /// <see cref="MmaEnvironmentVariable"/>=bf16, or a simulator created with it): twice the TF32 rate on Ampere and
    /// Hopper, with ~2⁻⁸ relative rounding per operand. Implies <see cref="UseMmaMatmul"/>.
    /// </summary>
    public bool MmaBf16 { get; }

    private string MmaLabel => MmaBf16 ? "BF16" : "TF32";

    /// <summary>The shuffle kernels and twins loaded so far (method names), as <see cref="Twin"/> chose them.</summary>
    internal IReadOnlyCollection<string> LoadedTwins
    {
        get
        {
            lock (_gate)
            {
                return [.. _loadedTwins];
            }
        }
    }

    /// <summary>
    /// <paramref name="shuffle"/> (a <see cref="GpuKernelAttribute.WarpShuffles"/> kernel) where
    /// <see cref="UseWarpShuffles"/>, else <paramref name="noShuffle"/>, its shared-memory twin; the choice is recorded.
    /// </summary>
    private TKernel Twin<TKernel>(TKernel shuffle, TKernel noShuffle) where TKernel : Delegate
    {
        var kernel = UseWarpShuffles ? shuffle : noShuffle;
        lock (_gate)
        {
            _loadedTwins.Add(kernel.Method.Name);
        }
        return kernel;
    }

    public override string Name => Kind switch
    {
        BackendKind.IlgpuCpu => UseWarpShuffles
            ? "ilgpu-cpu (ILGPU CPU simulator" + (UseMmaMatmul ? $", {MmaLabel} mma matmul emulated)" : ")")
            : "ilgpu-cpu (ILGPU CPU simulator, no warp shuffles" + (UseMmaMatmul ? $", {MmaLabel} mma matmul emulated)" : ")"),
        _ => $"{Kind.ToString().ToLowerInvariant()} ({_accelerator.Name}, {_accelerator.MemorySize / (1 << 20)} MiB)"
            + (UseMmaMatmul ? $", {MmaLabel} mma matmul" : ""),
    };

    public override BackendKind Kind { get; }

    public override void Synchronize() => _accelerator.Synchronize();

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
        BufferPool<MemoryBuffer1D<T, Stride1D.Dense>> pool;
        lock (_gate)
        {
            if (!_pools.TryGetValue(typeof(T), out var p))
            {
                p = new BufferPool<MemoryBuffer1D<T, Stride1D.Dense>>(b => b.Dispose());
                _pools[typeof(T)] = p;
            }
            pool = (BufferPool<MemoryBuffer1D<T, Stride1D.Dense>>)p;
        }
        // Length-0 buffers get one element: ILGPU views of length 0 are not valid kernel arguments everywhere.
        var buffer = pool.Rent(typeof(T), length, sizeof(T), () => _accelerator.Allocate1D<T>(Math.Max(1, length)));
        return new IlgpuBuffer<T>(this, pool, buffer, length);
    }

    internal static ArrayView<T> View<T>(DeviceBuffer<T> buffer) where T : unmanaged => ((IlgpuBuffer<T>)buffer).View;

    internal void FillView<T>(ArrayView<T> view, T value) where T : unmanaged
    {
        if (view.Length == 0)
        {
            return;
        }
        Action<Index1D, ArrayView<T>, T> kernel;
        lock (_gate)
        {
            if (!_fillKernels.TryGetValue(typeof(T), out var k))
            {
                k = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, T>(CoreIlgpuKernels.Fill);
                _fillKernels[typeof(T)] = k;
            }
            kernel = (Action<Index1D, ArrayView<T>, T>)k;
        }
        kernel((int)view.Length, view, value);
    }

    protected override void Dispose(bool disposing)
    {
        _accelerator.Synchronize();
        lock (_gate)
        {
            DisposeSegmentTables();
        }
        _staging?.Dispose();
        TrimPool();
        _accelerator.Dispose();
        _context.Dispose();
    }
}
