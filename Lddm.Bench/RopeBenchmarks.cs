using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Diagnostics;

namespace Lddm.Bench;

/// <summary>RoPE forward on attention queries (8 × 8 heads × 128 tokens × 64): naive scalar loop vs the SIMD CPU kernel.</summary>
[MemoryDiagnoser]
public class RopeBenchmarks
{
    private const int Batch = 8, Heads = 8, Tokens = 128, HeadDim = 64;
    private const float Theta = 10000f;
    private float[] _x = [], _y = [];
    private DeviceBuffer<float>? _dx, _dy;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _x = new float[Batch * Heads * Tokens * HeadDim];
        for (int i = 0; i < _x.Length; i++)
        {
            _x[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        _y = new float[_x.Length];
        _dx = BenchBackends.Cpu.Upload<float>(_x);
        _dy = BenchBackends.Cpu.Allocate<float>(_x.Length);
        Naive();
        Cpu();
        var got = _dy.ToArray();
        QuickBench.Validate("RopeForward", _y, got, 1e-5);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _dx?.Dispose();
        _dy?.Dispose();
    }

    /// <summary>The textbook loop: an angle, a cos and a sin per pair per call.</summary>
    [Benchmark(Baseline = true)]
    public void Naive()
    {
        const int half = HeadDim / 2;
        for (int row = 0; row < Batch * Heads * Tokens; row++)
            for (int i = 0; i < half; i++)
            {
                double a = row % Tokens * Math.Pow(Theta, -2.0 * i / HeadDim);
                float c = (float)Math.Cos(a), s = (float)Math.Sin(a);
                int lo = row * HeadDim + i, hi = lo + half;
                _y[lo] = _x[lo] * c - _x[hi] * s;
                _y[hi] = _x[hi] * c + _x[lo] * s;
            }
    }

    [Benchmark]
    public void Cpu() => BenchBackends.Cpu.RopeForward(_dx!, Batch, Heads, Tokens, HeadDim, Theta, _dy!);
}
