using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Reference;

namespace Lddm.Bench;

/// <summary>AdamW over 4M parameters: naive scalar single-thread loop vs the CpuBackend kernel (SIMD, 2 threads).</summary>
[MemoryDiagnoser]
public class OptimizerBenchmarks
{
    private const int N = 1 << 22;
    private static readonly AdamWParameters s_hp = new(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 2);
    private float[] _p = [], _g = [], _m = [], _v = [];
    private DeviceBuffer<float> _dp = null!, _dg = null!, _dm = null!, _dv = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(5);
        _p = new float[N];
        _g = new float[N];
        _m = new float[N];
        _v = new float[N];
        for (int i = 0; i < N; i++)
        {
            _p[i] = (float)(rng.NextDouble() * 2 - 1);
            _g[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        var backend = BenchBackends.Cpu;
        _dp = backend.Upload<float>(_p);
        _dg = backend.Upload<float>(_g);
        _dm = backend.Full(N, 0f);
        _dv = backend.Full(N, 0f);
        var hp = s_hp with { Step = 1 };
        backend.AdamWStep(_dp, _dg, _dm, _dv, hp);
        double[] rp = [.. _p.Select(x => (double)x)], rm = new double[N], rv = new double[N];
        OptimizerReference.AdamWStep(rp, _g, rm, rv, hp);
        var got = _dp.ToArray();
        for (int i = 0; i < N; i++)
        {
            if (Math.Abs(got[i] - rp[i]) > 1e-5 * (1 + Math.Abs(rp[i])))
            {
                throw new InvalidOperationException($"AdamWStep is wrong at {i}: {got[i]} vs {rp[i]}.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _dp.Dispose();
        _dg.Dispose();
        _dm.Dispose();
        _dv.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Naive()
    {
        float b1 = s_hp.Beta1, b2 = s_hp.Beta2, lr = s_hp.LearningRate;
        float bc1 = 1 - MathF.Pow(b1, s_hp.Step), bc2 = 1 - MathF.Pow(b2, s_hp.Step);
        for (int i = 0; i < N; i++)
        {
            float g = _g[i];
            _p[i] *= 1 - lr * s_hp.WeightDecay;
            _m[i] = b1 * _m[i] + (1 - b1) * g;
            _v[i] = b2 * _v[i] + (1 - b2) * g * g;
            _p[i] -= lr / bc1 * _m[i] / (MathF.Sqrt(_v[i] / bc2) + s_hp.Epsilon);
        }
    }

    [Benchmark]
    public void CpuBackendAdamW() => BenchBackends.Cpu.AdamWStep(_dp, _dg, _dm, _dv, s_hp);
}
