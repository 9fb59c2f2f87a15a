using BenchmarkDotNet.Attributes;
using Lddm.Kernels;

namespace Lddm.Bench;

/// <summary>Embedding gather + scatter-add, 1024 tokens × 256 columns from a 1024-row table.</summary>
[MemoryDiagnoser]
public class EmbeddingBenchmarks
{
    private const int Count = 1024, Vocab = 1024, Dim = 256;
    private int[] _ids = [];
    private float[] _table = [], _y = [], _grad = [];
    private DeviceBuffer<int>? _bIds;
    private DeviceBuffer<float>? _bTable, _bY, _bGrad;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(3);
        var backend = BenchBackends.Cpu;
        _ids = Enumerable.Range(0, Count).Select(_ => rng.Next(Vocab)).ToArray();
        _table = Enumerable.Range(0, Vocab * Dim).Select(_ => (float)rng.NextDouble()).ToArray();
        _y = new float[Count * Dim];
        _grad = new float[Vocab * Dim];
        _bIds = backend.Upload<int>(_ids);
        _bTable = backend.Upload<float>(_table);
        _bY = backend.Allocate<float>(_y.Length);
        _bGrad = backend.Full(_grad.Length, 0f);
        Naive();
        Cpu();
        var y = _bY.ToArray();
        var grad = _bGrad.ToArray();
        if (!y.AsSpan().SequenceEqual(_y) || !grad.AsSpan().SequenceEqual(_grad))
        {
            throw new InvalidOperationException("Embedding kernels differ from the naive loops.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bIds?.Dispose();
        _bTable?.Dispose();
        _bY?.Dispose();
        _bGrad?.Dispose();
    }

    /// <summary>Scalar, one thread: gather each row, then scatter-add it back.</summary>
    [Benchmark(Baseline = true)]
    public void Naive()
    {
        for (int i = 0; i < Count; i++)
        {
            for (int d = 0; d < Dim; d++)
            {
                _y[i * Dim + d] = _table[_ids[i] * Dim + d];
            }
        }
        for (int i = 0; i < Count; i++)
        {
            for (int d = 0; d < Dim; d++)
            {
                _grad[_ids[i] * Dim + d] += _y[i * Dim + d];
            }
        }
    }

    [Benchmark]
    public void Cpu()
    {
        BenchBackends.Cpu.EmbeddingForward(_bIds!, _bTable!, Count, Vocab, Dim, _bY!);
        BenchBackends.Cpu.EmbeddingBackward(_bIds!, _bY!, Count, Vocab, Dim, _bGrad!);
    }
}
