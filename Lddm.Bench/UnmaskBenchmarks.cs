using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Reference;

namespace Lddm.Bench;

/// <summary>
/// The fused sampler step over 1024 all-masked positions in Fill mode (every row drawn): the CPU kernel against a
/// naive scalar loop (float64 softmax, sequential inverse CDF). Ids are reset to MASK before every call.
/// </summary>
[MemoryDiagnoser]
public class UnmaskBenchmarks
{
    private const int Rows = 1024;
    private const ulong Seed = 7, Stream = 1;
    private float[] _logits = [];
    private int[] _tokens = [];
    private DeviceBuffer<float>? _bLogits;
    private DeviceBuffer<int>? _bTokens;

    /// <summary>V = K + 1: char-level and a 1024-token vocabulary.</summary>
    [Params(28, 1025)]
    public int Vocab { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(3);
        var backend = BenchBackends.Cpu;
        _logits = Enumerable.Range(0, Rows * Vocab).Select(_ => (float)(rng.NextDouble() * 10 - 5)).ToArray();
        _tokens = new int[Rows];
        _bLogits = backend.Upload<float>(_logits);
        _bTokens = backend.Allocate<int>(Rows);
        Naive();
        Cpu();
        var expected = UnmaskReference.Step(_logits, Enumerable.Repeat(Vocab - 1, Rows).ToArray(), Rows, Vocab, 0, 1, 1f,
            Seed, Stream, 0, UnmaskMode.Fill);
        var got = _bTokens.ToArray();
        for (int r = 0; r < Rows; r++)
        {
            // The naive loop sums in another order: it may differ only if u lands within ~1e-16 of a CDF step.
            if (got[r] != expected[r] || _tokens[r] != expected[r])
            {
                throw new InvalidOperationException(
                    $"Unmask row {r}: kernel {got[r]}, naive {_tokens[r]}, reference {expected[r]}.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bLogits?.Dispose();
        _bTokens?.Dispose();
    }

    /// <summary>Scalar, one thread: max, float64 softmax weights, then the first CDF entry past u·Z.</summary>
    [Benchmark(Baseline = true)]
    public void Naive()
    {
        int k = Vocab - 1;
        Array.Fill(_tokens, k);
        for (int r = 0; r < Rows; r++)
        {
            int o = r * Vocab;
            float m = float.NegativeInfinity;
            for (int j = 0; j < k; j++)
            {
                m = MathF.Max(m, _logits[o + j]);
            }
            double z = 0;
            for (int j = 0; j < k; j++)
            {
                z += Math.Exp((double)_logits[o + j] - m);
            }
            double t = Philox.UniformDouble(Seed, Stream, r) * z, c = 0;
            int pick = k - 1;
            for (int j = 0; j < k; j++)
            {
                c += Math.Exp((double)_logits[o + j] - m);
                if (c > t)
                {
                    pick = j;
                    break;
                }
            }
            _tokens[r] = pick;
        }
    }

    [Benchmark]
    public void Cpu()
    {
        _bTokens!.Fill(Vocab - 1);
        BenchBackends.Cpu.UnmaskStep(_bLogits!, _bTokens, Rows, Vocab, 0, 1, 1f, Seed, Stream, 0, UnmaskMode.Fill);
    }
}
