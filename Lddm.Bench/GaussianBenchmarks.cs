using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Diagnostics;

namespace Lddm.Bench;

/// <summary>
/// Forward noising of an LDDM latent (64 sequences × 32 patches × 64 dims): a naive scalar single-thread loop over
/// <see cref="Philox.Normal"/> vs the CPU kernel (AVX-512 Philox, threads); plus the DDIM step and the row L2
/// normalisation kernels at the same size.
/// </summary>
[MemoryDiagnoser]
public class GaussianBenchmarks
{
    private const int Batch = 64, Dim = 32 * 64;
    private const ulong Seed = 7, Stream = 1;
    private float[] _y0 = [], _abar = [], _sbar = [], _eps = [], _yt = [];
    private DeviceBuffer<float>? _dy0, _dabar, _dsbar, _deps, _dyt, _dys, _norms;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _y0 = QuickBench.RandomFloats(rng, Batch * Dim);
        _abar = Enumerable.Range(0, Batch).Select(_ => (float)(0.2 + 0.8 * rng.NextDouble())).ToArray();
        _sbar = Enumerable.Range(0, Batch).Select(_ => (float)(0.2 + 0.8 * rng.NextDouble())).ToArray();
        _eps = new float[_y0.Length];
        _yt = new float[_y0.Length];
        var backend = BenchBackends.Cpu;
        _dy0 = backend.Upload<float>(_y0);
        _dabar = backend.Upload<float>(_abar);
        _dsbar = backend.Upload<float>(_sbar);
        _deps = backend.Allocate<float>(_y0.Length);
        _dyt = backend.Allocate<float>(_y0.Length);
        _dys = backend.Allocate<float>(_y0.Length);
        _norms = backend.Allocate<float>(Batch * 32);
        Naive();
        Cpu();
        QuickBench.Validate("GaussianNoise eps", _eps, _deps.ToArray(), 0);
        QuickBench.Validate("GaussianNoise yt", _yt, _dyt.ToArray(), 1e-6);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in new[] { _dy0, _dabar, _dsbar, _deps, _dyt, _dys, _norms })
        {
            b?.Dispose();
        }
    }

    [Benchmark(Baseline = true)]
    public void Naive()
    {
        for (int b = 0; b < Batch; b++)
            for (int j = 0; j < Dim; j++)
            {
                int i = b * Dim + j;
                float z = Philox.Normal(Seed, Stream, i);
                _eps[i] = z;
                _yt[i] = _abar[b] * _y0[i] + _sbar[b] * z;
            }
    }

    [Benchmark]
    public void Cpu() => BenchBackends.Cpu.GaussianNoise(_dy0!, _dabar!, _dsbar!, Batch, Dim, Seed, Stream, 0, _deps!, _dyt!);

    [Benchmark]
    public void CpuDdimStep() =>
        BenchBackends.Cpu.GaussianDdimStep(_dyt!, _dy0!, _dabar!, _dsbar!, _dsbar!, _dabar!, Batch, Dim, _dys!);

    [Benchmark]
    public void CpuRowL2Normalize() => BenchBackends.Cpu.RowL2Normalize(_dy0!, Batch * 32, 64, 1e-12f, _dys!, _norms!);
}
