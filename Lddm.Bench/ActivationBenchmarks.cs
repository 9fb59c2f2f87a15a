using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Reference;

namespace Lddm.Bench;

/// <summary>
/// Bias + tanh-GELU forward and backward on a 1024-token × 1024-wide MLP activation (8·128 tokens, 4·256 width),
/// against a naive scalar single-thread loop. Memory-bound: ~8 MiB moved forward, ~16 MiB backward.
/// </summary>
[MemoryDiagnoser]
public class ActivationBenchmarks
{
    private const int Rows = 1024, Cols = 1024;
    private readonly float[] _x = new float[Rows * Cols], _bias = new float[Cols], _dy = new float[Rows * Cols];
    private readonly float[] _y = new float[Rows * Cols], _dx = new float[Rows * Cols], _db = new float[Cols];
    private Backend _cpu = null!;
    private DeviceBuffer<float> _bx = null!, _bb = null!, _bdy = null!, _by = null!, _bdx = null!, _bdb = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(5);
        for (int i = 0; i < _x.Length; i++)
        {
            _x[i] = (float)(rng.NextDouble() * 6 - 3);
            _dy[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        for (int c = 0; c < Cols; c++)
        {
            _bias[c] = (float)(rng.NextDouble() * 2 - 1);
        }
        _cpu = BenchBackends.Cpu;
        _bx = _cpu.Upload<float>(_x);
        _bb = _cpu.Upload<float>(_bias);
        _bdy = _cpu.Upload<float>(_dy);
        _by = _cpu.Allocate<float>(_x.Length);
        _bdx = _cpu.Full(_x.Length, 0f);
        _bdb = _cpu.Full(Cols, 0f);
        CpuForward();
        var expected = ActivationReference.Forward(_x, _bias, Rows, Cols, Activation.GeluTanh);
        var got = _by.ToArray();
        NaiveForward();
        for (int i = 0; i < got.Length; i++)
        {
            if (Math.Abs(got[i] - expected[i]) > 1e-5 || Math.Abs(_y[i] - expected[i]) > 1e-5)
            {
                throw new InvalidOperationException($"bias+GELU disagrees with the reference at {i}.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in new[] { _bx, _bb, _bdy, _by, _bdx, _bdb })
        {
            b.Dispose();
        }
    }

    [Benchmark(Baseline = true)]
    public void NaiveForward()
    {
        for (int r = 0; r < Rows; r++)
        {
            for (int c = 0; c < Cols; c++)
            {
                float u = _x[r * Cols + c] + _bias[c];
                _y[r * Cols + c] = 0.5f * u * (1f + MathF.Tanh(0.7978846f * (u + 0.044715f * u * u * u)));
            }
        }
    }

    [Benchmark]
    public void CpuForward() => _cpu.BiasActivationForward(_bx, _bb, Rows, Cols, Activation.GeluTanh, _by);

    [Benchmark]
    public void NaiveBackward()
    {
        for (int r = 0; r < Rows; r++)
        {
            for (int c = 0; c < Cols; c++)
            {
                int i = r * Cols + c;
                float u = _x[i] + _bias[c];
                float t = MathF.Tanh(0.7978846f * (u + 0.044715f * u * u * u));
                float g = _dy[i] * (0.5f * (1 + t) + 0.5f * u * (1 - t * t) * 0.7978846f * (1 + 0.134145f * u * u));
                _dx[i] += g;
                _db[c] += g;
            }
        }
    }

    [Benchmark]
    public void CpuBackward() =>
        _cpu.BiasActivationBackward(_bx, _bb, _bdy, Rows, Cols, Activation.GeluTanh, _bdx, _bdb);
}
