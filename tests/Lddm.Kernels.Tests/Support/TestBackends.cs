using Lddm.Kernels.Cpu;
using Lddm.Kernels.Ilgpu;
using Xunit;

namespace Lddm.Kernels.Tests.Support;

/// <summary>
/// One instance of each backend the tests run on: the SIMD CPU backend and ILGPU's CPU accelerator
/// (the GPU kernels, simulated). Created once per test run; ILGPU context creation is slow.
/// On a machine with a GPU, <c>LDDM_TEST_ILGPU_DEVICE=cuda:0</c> (or <c>opencl:0</c>) puts that device in the
/// ILGPU slot, so the same tests validate the real GPU kernels against the float64 references
/// (<c>scripts/gpu-check.sh</c> does this); the slot keeps its theory name "ilgpu-cpu".
/// </summary>
public static class TestBackends
{
    private static readonly Lazy<CpuBackend> s_cpu = new(() => new CpuBackend());
    private static readonly Lazy<IlgpuBackend> s_ilgpu = new(CreateIlgpu);

    public static CpuBackend Cpu => s_cpu.Value;

    private static IlgpuBackend CreateIlgpu()
    {
        string? spec = Environment.GetEnvironmentVariable("LDDM_TEST_ILGPU_DEVICE");
        if (string.IsNullOrWhiteSpace(spec))
        {
            return IlgpuBackend.CreateCpuSimulator();
        }
        return Devices.Create(spec) as IlgpuBackend
            ?? throw new InvalidOperationException($"LDDM_TEST_ILGPU_DEVICE='{spec}' is not an ILGPU device.");
    }

    public static IlgpuBackend IlgpuCpu => s_ilgpu.Value;

    private static readonly Lazy<IlgpuBackend> s_noShuffles = new(() => IlgpuBackend.CreateCpuSimulator(useWarpShuffles: false));

    private static readonly Lazy<IlgpuBackend> s_mma = new(CreateMma);

    /// <summary>
    /// The TF32 tensor-core matmul: with <c>LDDM_TEST_ILGPU_DEVICE=cuda:N</c> and <c>LDDM_CUDA_MMA=1</c> (as
    /// scripts/gpu-check.sh runs these tests) the GPU slot itself, so the real <c>mma.sync</c> kernel is tested;
    /// otherwise the simulator running its emulation path (created with it explicitly).
    /// </summary>
    public static IlgpuBackend IlgpuMma => s_mma.Value;

    private static IlgpuBackend CreateMma()
    {
        string? spec = Environment.GetEnvironmentVariable("LDDM_TEST_ILGPU_DEVICE");
        bool cuda = !string.IsNullOrWhiteSpace(spec) && spec.Trim().StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        return cuda && IlgpuBackend.MmaOptedIn && IlgpuCpu.UseMmaMatmul && !IlgpuCpu.MmaBf16
            ? IlgpuCpu
            : IlgpuBackend.CreateCpuSimulator(useWarpShuffles: true, useMmaMatmul: true);
    }

    private static readonly Lazy<IlgpuBackend> s_mmaBf16 = new(CreateMmaBf16);

    /// <summary>
    /// The BF16-input tensor-core matmul: the GPU slot with <c>LDDM_TEST_ILGPU_DEVICE=cuda:N</c> and
    /// <c>LDDM_CUDA_MMA=bf16</c>, otherwise the simulator running its emulation path.
    /// </summary>
    public static IlgpuBackend IlgpuMmaBf16 => s_mmaBf16.Value;

    private static IlgpuBackend CreateMmaBf16()
    {
        string? spec = Environment.GetEnvironmentVariable("LDDM_TEST_ILGPU_DEVICE");
        bool cuda = !string.IsNullOrWhiteSpace(spec) && spec.Trim().StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        return cuda && IlgpuCpu.MmaBf16
            ? IlgpuCpu
            : IlgpuBackend.CreateCpuSimulator(useWarpShuffles: true, useMmaMatmul: true, mmaBf16: true);
    }

    /// <summary>The simulator on the OpenCL path: the shared-memory twins of the warp-shuffle kernels.</summary>
    public static IlgpuBackend IlgpuCpuNoShuffles => s_noShuffles.Value;

    /// <summary><see cref="All"/> plus <see cref="IlgpuCpuNoShuffles"/>, for the kernels that exist in both forms.</summary>
    public static IEnumerable<Backend> AllAndNoShuffles => All.Append(IlgpuCpuNoShuffles);

    /// <summary><see cref="Names"/> plus "ilgpu-noshuffle".</summary>
    public static TheoryData<string> NamesAndNoShuffles => new() { "cpu", "ilgpu-cpu", "ilgpu-noshuffle" };

    /// <summary>Both backends, for properties that check each in turn.</summary>
    public static IEnumerable<Backend> All
    {
        get
        {
            yield return Cpu;
            yield return IlgpuCpu;
        }
    }

    /// <summary>Backend names for xunit theories.</summary>
    public static TheoryData<string> Names => new() { "cpu", "ilgpu-cpu" };

    /// <summary>
    /// The ILGPU row kernels' 128-bit path cases: both simulator variants (shuffles, and the OpenCL twins without) ×
    /// row widths 64 and 1,024 (quads) and 65 and 1,027 (floats).
    /// </summary>
    public static TheoryData<string, int> RowQuadCases
    {
        get
        {
            var data = new TheoryData<string, int>();
            foreach (var name in new[] { "ilgpu-cpu", "ilgpu-noshuffle" })
            {
                foreach (int width in new[] { 64, 65, 1024, 1027 })
                {
                    data.Add(name, width);
                }
            }
            return data;
        }
    }

    public static Backend Get(string name) => name switch
    {
        "cpu" => Cpu,
        "ilgpu-cpu" => IlgpuCpu,
        "ilgpu-noshuffle" => IlgpuCpuNoShuffles,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Unknown test backend."),
    };
}
