using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Diagnostics;

namespace Lddm.Bench;

/// <summary>adaLN modulate at a DiT block's shape (8 × 128 tokens × 1024): naive scalar loop vs the SIMD CPU kernel.</summary>
[MemoryDiagnoser]
public class ModulationBenchmarks
{
    private const int Batch = 8, Tokens = 128, Hidden = 1024;
    private float[] _x = [], _shift = [], _scale = [], _y = [];
    private DeviceBuffer<float>? _dx, _dshift, _dscale, _dy, _gx, _gshift, _gscale;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _x = Random(rng, Batch * Tokens * Hidden);
        _shift = Random(rng, Batch * Hidden);
        _scale = Random(rng, Batch * Hidden);
        _y = new float[_x.Length];
        var backend = BenchBackends.Cpu;
        _dx = backend.Upload<float>(_x);
        _dshift = backend.Upload<float>(_shift);
        _dscale = backend.Upload<float>(_scale);
        _dy = backend.Allocate<float>(_x.Length);
        _gx = backend.Full(_x.Length, 0f);
        _gshift = backend.Full(_shift.Length, 0f);
        _gscale = backend.Full(_scale.Length, 0f);
        Naive();
        Cpu();
        var got = _dy.ToArray();
        QuickBench.Validate("ModulateForward", _y, got, 1e-5);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in new[] { _dx, _dshift, _dscale, _dy, _gx, _gshift, _gscale })
        {
            b?.Dispose();
        }
    }

    [Benchmark(Baseline = true)]
    public void Naive()
    {
        for (int b = 0; b < Batch; b++)
            for (int t = 0; t < Tokens; t++)
                for (int h = 0; h < Hidden; h++)
                {
                    int i = (b * Tokens + t) * Hidden + h;
                    _y[i] = _x[i] * (1f + _scale[b * Hidden + h]) + _shift[b * Hidden + h];
                }
    }

    [Benchmark]
    public void Cpu() => BenchBackends.Cpu.ModulateForward(_dx!, _dshift!, _dscale!, Batch, Tokens, Hidden, _dy!);

    [Benchmark]
    public void CpuBackward() =>
        BenchBackends.Cpu.ModulateBackward(_dx!, _dscale!, _dy!, Batch, Tokens, Hidden, _gx, _gshift, _gscale);

    private static float[] Random(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++)
        {
            a[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return a;
    }
}
