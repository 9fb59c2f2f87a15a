using BenchmarkDotNet.Attributes;
using Lddm.Kernels;

namespace Lddm.Bench;

/// <summary>SUBS cross-entropy forward + backward over 1024 masked tokens: SIMD CPU kernels against naive scalar loops.</summary>
[MemoryDiagnoser]
public class CrossEntropyBenchmarks
{
    private const int Rows = 1024;
    private float[] _logits = [], _weights = [], _loss = [], _grad = [];
    private int[] _targets = [], _noisy = [];
    private DeviceBuffer<float>? _bLogits, _bWeights, _bLoss, _bDloss, _bGrad;
    private DeviceBuffer<int>? _bTargets, _bNoisy;

    /// <summary>V = K + 1: char-level and a 1024-token vocabulary.</summary>
    [Params(65, 1025)]
    public int Vocab { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        var backend = BenchBackends.Cpu;
        _logits = Enumerable.Range(0, Rows * Vocab).Select(_ => (float)(rng.NextDouble() * 10 - 5)).ToArray();
        _targets = Enumerable.Range(0, Rows).Select(_ => rng.Next(Vocab - 1)).ToArray();
        _noisy = Enumerable.Repeat(Vocab - 1, Rows).ToArray();
        _weights = Enumerable.Range(0, Rows).Select(_ => (float)rng.NextDouble()).ToArray();
        _loss = new float[Rows];
        _grad = new float[_logits.Length];
        _bLogits = backend.Upload<float>(_logits);
        _bTargets = backend.Upload<int>(_targets);
        _bNoisy = backend.Upload<int>(_noisy);
        _bWeights = backend.Upload<float>(_weights);
        _bLoss = backend.Allocate<float>(Rows);
        _bDloss = backend.Full(Rows, 1f);
        _bGrad = backend.Full(_logits.Length, 0f);
        Naive();
        Cpu();
        var loss = _bLoss.ToArray();
        var grad = _bGrad.ToArray();
        for (int i = 0; i < grad.Length; i++)
        {
            if (Math.Abs(grad[i] - _grad[i]) > 1e-5f || (i < Rows && Math.Abs(loss[i] - _loss[i]) > 1e-4f * (1 + _loss[i])))
            {
                throw new InvalidOperationException($"SUBS cross-entropy differs from the naive loop at {i}.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in new IDisposable?[] { _bLogits, _bWeights, _bLoss, _bDloss, _bGrad, _bTargets, _bNoisy })
        {
            b?.Dispose();
        }
    }

    /// <summary>Scalar, one thread: log-sum-exp over the K real logits, loss, then the softmax gradient.</summary>
    [Benchmark(Baseline = true)]
    public void Naive()
    {
        int k = Vocab - 1;
        for (int r = 0; r < Rows; r++)
        {
            int o = r * Vocab;
            if (_noisy[r] != k)
            {
                _loss[r] = 0;
                continue;
            }
            float m = float.NegativeInfinity;
            for (int j = 0; j < k; j++)
            {
                m = MathF.Max(m, _logits[o + j]);
            }
            float s = 0;
            for (int j = 0; j < k; j++)
            {
                s += MathF.Exp(_logits[o + j] - m);
            }
            _loss[r] = _weights[r] * (m + MathF.Log(s) - _logits[o + _targets[r]]);
            for (int j = 0; j < k; j++)
            {
                _grad[o + j] += _weights[r] * (MathF.Exp(_logits[o + j] - m) / s - (j == _targets[r] ? 1 : 0));
            }
        }
    }

    [Benchmark]
    public void Cpu()
    {
        BenchBackends.Cpu.SubsCrossEntropyForward(_bLogits!, _bTargets!, _bNoisy!, _bWeights!, Rows, Vocab, _bLoss!);
        BenchBackends.Cpu.SubsCrossEntropyBackward(_bLogits!, _bTargets!, _bNoisy!, _bWeights!, _bDloss!, Rows, Vocab, _bGrad!);
    }
}
