using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Reference;

namespace Lddm.Bench;

/// <summary>Philox fills of 4M floats: a naive scalar single-thread loop over <see cref="Philox"/> vs the CpuBackend kernels.</summary>
[MemoryDiagnoser]
public class RngBenchmarks
{
    private const int N = 1 << 22;
    private const ulong Seed = 0x5EED, Stream = 3;
    private readonly float[] _naive = new float[N];
    private DeviceBuffer<float> _dst = null!;

    [GlobalSetup]
    public void Setup()
    {
        _dst = BenchBackends.Cpu.Allocate<float>(N);
        NaiveUniform();
        BenchBackends.Cpu.FillUniform(Seed, Stream, 0, _dst);
        var got = _dst.ToArray();
        var reference = RngReference.Uniform(Seed, Stream, 0, 1024);
        for (int i = 0; i < reference.Length; i++)
        {
            if (got[i] != reference[i] || _naive[i] != reference[i])
            {
                throw new InvalidOperationException($"FillUniform is wrong at {i}: {got[i]} / {_naive[i]} vs {reference[i]}.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _dst.Dispose();

    [Benchmark(Baseline = true)]
    public void NaiveUniform()
    {
        for (int i = 0; i < N; i++)
        {
            _naive[i] = Philox.Uniform(Seed, Stream, i);
        }
    }

    [Benchmark]
    public void CpuFillUniform() => BenchBackends.Cpu.FillUniform(Seed, Stream, 0, _dst);

    [Benchmark]
    public void NaiveNormal()
    {
        for (int i = 0; i < N; i++)
        {
            _naive[i] = Philox.Normal(Seed, Stream, i);
        }
    }

    [Benchmark]
    public void CpuFillNormal() => BenchBackends.Cpu.FillNormal(Seed, Stream, 0, _dst);
}
