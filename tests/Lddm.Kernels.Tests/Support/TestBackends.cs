using Lddm.Kernels.Cpu;
using Lddm.Kernels.Ilgpu;
using Xunit;

namespace Lddm.Kernels.Tests.Support;

/// <summary>
/// One instance of each backend the tests run on: the SIMD CPU backend and ILGPU's CPU accelerator
/// (the GPU kernels, simulated). Created once per test run; ILGPU context creation is slow.
/// </summary>
public static class TestBackends
{
    private static readonly Lazy<CpuBackend> s_cpu = new(() => new CpuBackend());
    private static readonly Lazy<IlgpuBackend> s_ilgpu = new(IlgpuBackend.CreateCpuSimulator);

    public static CpuBackend Cpu => s_cpu.Value;

    public static IlgpuBackend IlgpuCpu => s_ilgpu.Value;

    private static readonly Lazy<IlgpuBackend> s_noShuffles = new(() => IlgpuBackend.CreateCpuSimulator(useWarpShuffles: false));

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

    public static Backend Get(string name) => name switch
    {
        "cpu" => Cpu,
        "ilgpu-cpu" => IlgpuCpu,
        "ilgpu-noshuffle" => IlgpuCpuNoShuffles,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Unknown test backend."),
    };
}
