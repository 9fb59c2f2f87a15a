using BenchmarkDotNet.Attributes;
using Lddm.Kernels;
using Lddm.Kernels.Reference;

namespace Lddm.Bench;

/// <summary>
/// Fused attention (B = 2, H = 8, D = 64) against the naive version that materialises the T×T score matrix:
/// single-thread scalar S = s·QKᵀ, row softmax, P·V. FLOPs per forward: 4·B·H·T²·D (×3.5 with the backward).
/// The allocated column shows the T² matrix the fused kernel never builds.
/// </summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    private const int B = 2, H = 8, D = 64;
    private float[] _q = [], _k = [], _v = [], _o = [];
    private DeviceBuffer<float> _dq = null!, _dk = null!, _dv = null!, _do = null!, _dO = null!, _dLse = null!;
    private DeviceBuffer<float> _gq = null!, _gk = null!, _gv = null!;
    private Backend _backend = null!;

    [Params(256, 512)]
    public int T { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _backend = BenchBackends.Cpu;
        var rng = new Random(1);
        int n = B * H * T * D;
        float[] Rand() => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        (_q, _k, _v, _o) = (Rand(), Rand(), Rand(), new float[n]);
        _dq = _backend.Upload<float>(_q);
        _dk = _backend.Upload<float>(_k);
        _dv = _backend.Upload<float>(_v);
        _dO = _backend.Upload<float>(Rand());
        _do = _backend.Allocate<float>(n);
        _dLse = _backend.Allocate<float>(B * H * T);
        _gq = _backend.Full(n, 0f);
        _gk = _backend.Full(n, 0f);
        _gv = _backend.Full(n, 0f);
        // Validate once: fused and naive against the float64 reference.
        Fused();
        Naive();
        var (expected, _) = AttentionReference.Forward(_q, _k, _v, null, B, H, T, D, AttentionMask.None);
        var fused = _do.ToArray();
        for (int i = 0; i < n; i++)
        {
            if (Math.Abs(fused[i] - expected[i]) > 1e-4 || Math.Abs(_o[i] - expected[i]) > 1e-4)
            {
                throw new InvalidOperationException($"attention mismatch at {i}: fused {fused[i]}, naive {_o[i]}, reference {expected[i]}");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var b in new[] { _dq, _dk, _dv, _do, _dO, _dLse, _gq, _gk, _gv })
        {
            b.Dispose();
        }
    }

    /// <summary>Scalar, single thread, materialised S (T × T per head): the textbook version.</summary>
    [Benchmark(Baseline = true)]
    public void Naive()
    {
        float scale = 1f / MathF.Sqrt(D);
        var s = new float[T * T];
        for (int bh = 0; bh < B * H; bh++)
        {
            int off = bh * T * D;
            for (int i = 0; i < T; i++)
            {
                float max = float.NegativeInfinity;
                for (int j = 0; j < T; j++)
                {
                    float acc = 0;
                    for (int d = 0; d < D; d++)
                    {
                        acc += _q[off + i * D + d] * _k[off + j * D + d];
                    }
                    s[i * T + j] = acc * scale;
                    max = MathF.Max(max, s[i * T + j]);
                }
                float sum = 0;
                for (int j = 0; j < T; j++)
                {
                    s[i * T + j] = MathF.Exp(s[i * T + j] - max);
                    sum += s[i * T + j];
                }
                for (int d = 0; d < D; d++)
                {
                    float acc = 0;
                    for (int j = 0; j < T; j++)
                    {
                        acc += s[i * T + j] * _v[off + j * D + d];
                    }
                    _o[off + i * D + d] = acc / sum;
                }
            }
        }
    }

    [Benchmark]
    public void Fused() =>
        _backend.AttentionForward(_dq, _dk, _dv, null, B, H, T, D, AttentionMask.None, _do, _dLse);

    [Benchmark]
    public void FusedForwardBackward()
    {
        Fused();
        _backend.AttentionBackward(_dq, _dk, _dv, _do, _dLse, _dO, null, B, H, T, D, AttentionMask.None, _gq, _gk, _gv);
    }
}
