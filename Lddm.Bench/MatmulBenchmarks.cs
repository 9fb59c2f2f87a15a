using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Reference;

namespace Lddm.Bench;

/// <summary>
/// Square GEMM C = A·B: a naive single-thread triple loop (the baseline) against the CpuBackend's packed,
/// register-blocked Vector512 GEMM. 2·n³ FLOPs per call.
/// </summary>
[MemoryDiagnoser]
public class MatmulBenchmarks
{
    private float[] _a = [], _b = [], _c = [];
    private DeviceBuffer<float>? _da, _db, _dc;

    [Params(256, 512)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _a = Enumerable.Range(0, N * N).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        _b = Enumerable.Range(0, N * N).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        _c = new float[N * N];
        var backend = BenchBackends.Cpu;
        _da = backend.Upload<float>(_a);
        _db = backend.Upload<float>(_b);
        _dc = backend.Allocate<float>(N * N);
        Cpu();
        Naive();
        var got = _dc.ToArray();
        for (int i = 0; i < got.Length; i += 97)
        {
            double expected = MatmulReference.Dot(_a, _b, 0, i / N, i % N, N, N, N, false, false, false);
            if (Math.Abs(got[i] - expected) > 1e-3 * (1 + Math.Abs(expected)) || Math.Abs(_c[i] - expected) > 1e-3 * (1 + Math.Abs(expected)))
            {
                throw new InvalidOperationException($"Matmul disagrees with the reference at {i}: {got[i]}, {_c[i]} vs {expected}.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _da?.Dispose();
        _db?.Dispose();
        _dc?.Dispose();
    }

    /// <summary>i-k-j loop order (row of B streamed), scalar, one thread.</summary>
    [Benchmark(Baseline = true)]
    public void Naive()
    {
        int n = N;
        Array.Clear(_c);
        for (int i = 0; i < n; i++)
        {
            for (int q = 0; q < n; q++)
            {
                float x = _a[i * n + q];
                for (int j = 0; j < n; j++)
                {
                    _c[i * n + j] += x * _b[q * n + j];
                }
            }
        }
    }

    [Benchmark]
    public void Cpu() => BenchBackends.Cpu.Matmul(_da!, _db!, _dc!, 1, N, N, N);
}
