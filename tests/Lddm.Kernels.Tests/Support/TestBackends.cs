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
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Unknown test backend."),
    };
}
