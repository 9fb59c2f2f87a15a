using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Diagnostics;

namespace Lddm.Bench;

/// <summary>Row softmax, 1024 tokens × 1024 columns: the SIMD CPU kernel against a naive scalar loop.</summary>
[MemoryDiagnoser]
public class SoftmaxBenchmarks
{
    private const int Rows = 1024, Cols = 1024;
    private float[] _x = [], _y = [];
    private DeviceBuffer<float>? _dx, _dy;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _x = Enumerable.Range(0, Rows * Cols).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        _y = new float[_x.Length];
        _dx = BenchBackends.Cpu.Upload<float>(_x);
        _dy = BenchBackends.Cpu.Allocate<float>(_x.Length);
        Naive();
        Cpu();
        var got = _dy.ToArray();
        QuickBench.Validate("SoftmaxForward", _y, got, 1e-5);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _dx?.Dispose();
        _dy?.Dispose();
    }

    /// <summary>Three scalar passes per row on one thread: max, Σexp, normalise.</summary>
    [Benchmark(Baseline = true)]
    public void Naive()
    {
        for (int r = 0; r < Rows; r++)
        {
            int o = r * Cols;
            float m = float.NegativeInfinity;
            for (int j = 0; j < Cols; j++)
            {
                m = MathF.Max(m, _x[o + j]);
            }
            float s = 0;
            for (int j = 0; j < Cols; j++)
            {
                s += _y[o + j] = MathF.Exp(_x[o + j] - m);
            }
            for (int j = 0; j < Cols; j++)
            {
                _y[o + j] /= s;
            }
        }
    }

    [Benchmark]
    public void Cpu() => BenchBackends.Cpu.SoftmaxForward(_dx!, Rows, Cols, _dy!);
}
