using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Reference;

namespace Lddm.Bench;

/// <summary>
/// Affine LayerNorm forward and backward over 1024 tokens (8·128) × 1024 features, against a naive scalar
/// single-thread two-pass loop. Memory-bound: ~8 MiB moved forward, ~16 MiB backward.
/// </summary>
[MemoryDiagnoser]
public class LayerNormBenchmarks
{
    private const int Rows = 1024, Cols = 1024;
    private const float Eps = 1e-5f;
    private readonly float[] _x = new float[Rows * Cols], _dy = new float[Rows * Cols], _y = new float[Rows * Cols];
    private readonly float[] _gamma = new float[Cols], _beta = new float[Cols], _mean = new float[Rows], _rstd = new float[Rows];
    private Backend _cpu = null!;
    private DeviceBuffer<float> _bx = null!, _bg = null!, _bb = null!, _by = null!, _bm = null!, _br = null!;
    private DeviceBuffer<float> _bdy = null!, _bdx = null!, _bdg = null!, _bdb = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(6);
        for (int i = 0; i < _x.Length; i++)
        {
            _x[i] = (float)(rng.NextDouble() * 4 - 2);
            _dy[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        for (int c = 0; c < Cols; c++)
        {
            _gamma[c] = (float)(rng.NextDouble() * 2 - 1);
            _beta[c] = (float)(rng.NextDouble() * 2 - 1);
        }
        _cpu = BenchBackends.Cpu;
        _bx = _cpu.Upload<float>(_x);
        _bg = _cpu.Upload<float>(_gamma);
        _bb = _cpu.Upload<float>(_beta);
        _bdy = _cpu.Upload<float>(_dy);
        _by = _cpu.Allocate<float>(_x.Length);
        _bm = _cpu.Allocate<float>(Rows);
        _br = _cpu.Allocate<float>(Rows);
        _bdx = _cpu.Full(_x.Length, 0f);
        _bdg = _cpu.Full(Cols, 0f);
        _bdb = _cpu.Full(Cols, 0f);
        CpuForward();
        NaiveForward();
        var expected = LayerNormReference.Forward(LayerNormReference.ToDouble(_x), LayerNormReference.ToDouble(_gamma),
            LayerNormReference.ToDouble(_beta), Rows, Cols, Eps).Y;
        var got = _by.ToArray();
        for (int i = 0; i < got.Length; i++)
        {
            if (Math.Abs(got[i] - expected[i]) > 1e-4 || Math.Abs(_y[i] - expected[i]) > 1e-4)
            {
                throw new InvalidOperationException($"LayerNorm disagrees with the reference at {i}.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in new[] { _bx, _bg, _bb, _by, _bm, _br, _bdy, _bdx, _bdg, _bdb })
        {
            b.Dispose();
        }
    }

    [Benchmark(Baseline = true)]
    public void NaiveForward()
    {
        for (int r = 0; r < Rows; r++)
        {
            float mu = 0, v = 0;
            for (int c = 0; c < Cols; c++)
            {
                mu += _x[r * Cols + c];
            }
            mu /= Cols;
            for (int c = 0; c < Cols; c++)
            {
                float d = _x[r * Cols + c] - mu;
                v += d * d;
            }
            float rs = 1f / MathF.Sqrt(v / Cols + Eps);
            _mean[r] = mu;
            _rstd[r] = rs;
            for (int c = 0; c < Cols; c++)
            {
                _y[r * Cols + c] = (_x[r * Cols + c] - mu) * rs * _gamma[c] + _beta[c];
            }
        }
    }

    [Benchmark]
    public void CpuForward() => _cpu.LayerNormForward(_bx, _bg, _bb, Rows, Cols, Eps, _by, _bm, _br);

    [Benchmark]
    public void CpuBackward() => _cpu.LayerNormBackward(_bx, _bg, _bm, _br, _bdy, Rows, Cols, _bdx, _bdg, _bdb);
}
