using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Diagnostics;

namespace Lddm.Bench;

/// <summary>
/// The layout kernels on the attention head split (B = 8, T = 128, 3·H = 24 heads, D = 64 → (B, 3·H, T, D)): a naive
/// index loop, the dedicated <c>SwapAxes</c>, and the general <c>GatherStrided</c> that materialises a transposed view;
/// then the same gather for one third of it (the q slice of the transposed view, as a view's reader needs).
/// </summary>
[MemoryDiagnoser]
public class LayoutBenchmarks
{
    private const int Batch = 8, Tokens = 128, Heads = 24, HeadDim = 64;
    private float[] _x = [], _y = [];
    private DeviceBuffer<float>? _dx, _dy, _dq;
    private StridedLayout _transposed = null!, _query = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _x = new float[Batch * Tokens * Heads * HeadDim];
        for (int i = 0; i < _x.Length; i++)
        {
            _x[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        _y = new float[_x.Length];
        _transposed = StridedLayout.Contiguous(Batch, Tokens, Heads, HeadDim).SwapAxes(1, 2);
        _query = _transposed.Slice(1, 0, Heads / 3);
        _dx = BenchBackends.Cpu.Upload<float>(_x);
        _dy = BenchBackends.Cpu.Allocate<float>(_x.Length);
        _dq = BenchBackends.Cpu.Allocate<float>(_query.Elements);
        Naive();
        SwapAxes();
        QuickBench.Validate("SwapAxes", _y, _dy.ToArray(), 0);
        _dy.Fill(float.NaN);
        GatherTransposed();
        QuickBench.Validate("GatherStrided", _y, _dy.ToArray(), 0);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _dx?.Dispose();
        _dy?.Dispose();
        _dq?.Dispose();
    }

    /// <summary>One element at a time with full index arithmetic.</summary>
    [Benchmark(Baseline = true)]
    public void Naive()
    {
        for (int b = 0; b < Batch; b++)
            for (int h = 0; h < Heads; h++)
                for (int t = 0; t < Tokens; t++)
                    for (int d = 0; d < HeadDim; d++)
                    {
                        _y[((b * Heads + h) * Tokens + t) * HeadDim + d] = _x[((b * Tokens + t) * Heads + h) * HeadDim + d];
                    }
    }

    [Benchmark]
    public void SwapAxes() => BenchBackends.Cpu.SwapAxes(_dx!, Batch, Tokens, 1, Heads, HeadDim, _dy!);

    [Benchmark]
    public void GatherTransposed() => BenchBackends.Cpu.GatherStrided(_dx!, _transposed, _dy!);

    /// <summary>A third of the work: the q heads of the transposed view, read straight from the untransposed buffer.</summary>
    [Benchmark]
    public void GatherQuerySlice() => BenchBackends.Cpu.GatherStrided(_dx!, _query, _dq!);
}
