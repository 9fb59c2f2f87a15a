using Lddm.Kernels;
using Lddm.Kernels.Cpu;

namespace Lddm.Bench;

/// <summary>Backends the benchmarks run on: the SIMD CPU backend (the ILGPU simulator is not worth timing).</summary>
public static class BenchBackends
{
    private static readonly Lazy<CpuBackend> s_cpu = new(() => new CpuBackend());

    public static Backend Cpu => s_cpu.Value;
}
