using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Reference;

namespace Lddm.Bench;

/// <summary>Sum of 4M floats: naive scalar loop vs the CpuBackend kernel (SIMD lanes, float64 combine, 2 threads).</summary>
[MemoryDiagnoser]
public class ReductionBenchmarks
{
    private const int N = 1 << 22;
    private float[] _x = [];
    private DeviceBuffer<float> _dx = null!, _result = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(3);
        _x = new float[N];
        for (int i = 0; i < N; i++) _x[i] = (float)(rng.NextDouble() * 2 - 1);
        var backend = BenchBackends.Cpu;
        _dx = backend.Upload<float>(_x);
        _result = backend.Allocate<float>(1);
        backend.Sum(_dx, _result);
        double expected = ReductionReference.Sum(_x), got = _result.ToArray()[0];
        if (Math.Abs(got - expected) > 1e-2)
        {
            throw new InvalidOperationException($"Sum is wrong: {got} vs {expected}.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _dx.Dispose();
        _result.Dispose();
    }

    [Benchmark(Baseline = true)]
    public float Naive()
    {
        float s = 0;
        foreach (float v in _x) s += v;
        return s;
    }

    [Benchmark]
    public void CpuBackendSum() => BenchBackends.Cpu.Sum(_dx, _result);
}
