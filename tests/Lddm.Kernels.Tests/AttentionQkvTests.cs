using FsCheck.Xunit;
using Lddm.Kernels.Cpu;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The fused-QKV attention (q, k, v read in place from (B, T, 3, H, D), RoPE inside, o written (B, T, H, D),
/// gradients stored in place) against the float64 reference of the composition it replaces: split → RoPE →
/// attention → merge, and back.
/// </summary>
public sealed class AttentionQkvTests
{
    private static readonly AttentionMask[] s_masks =
        [AttentionMask.None, AttentionMask.Causal, AttentionMask.KeyPadding, AttentionMask.CausalKeyPadding];

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void Forward_and_backward_match_the_split_rope_attention_merge_reference_on_every_backend(SmallDim tokens, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(2), heads = 1 + rng.Next(3), headDim = 2 * (1 + rng.Next(8));
        var mask = s_masks[rng.Next(4)];
        float? theta = rng.Next(4) == 0 ? null : 10_000f;
        foreach (var backend in TestBackends.AllAndNoShuffles)
        {
            Check(backend, batch, heads, tokens, headDim, mask, theta, accumulate: rng.Next(2) == 0, seed);
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    public void Cpu_matches_the_reference_for_long_sequences_and_head_dims_up_to_128(Dim tokens, int seed)
    {
        var rng = new Random(seed);
        int headDim = rng.Next(3) == 0 ? 128 : 2 * (1 + rng.Next(64));
        bool rope = rng.Next(4) != 0;
        if (!rope && rng.Next(2) == 0)
        {
            headDim = 1 + 2 * rng.Next(60); // odd head dims are allowed without RoPE
        }
        Check(TestBackends.Cpu, 1 + rng.Next(2), 1 + rng.Next(3), Math.Min(140, (int)tokens), headDim,
            s_masks[rng.Next(4)], rope ? 500f : null, accumulate: rng.Next(2) == 0, seed);
    }

    [Fact]
    public void Cpu_results_are_bit_identical_for_1_2_and_3_threads()
    {
        using CpuBackend one = new(1), two = new(2), three = new(3);
        const int B = 3, H = 2, T = 70, D = 16;
        var rng = new Random(11);
        var qkv = Numerics.RandomFloats(rng, B * T * 3 * H * D, 2f);
        var dO = Numerics.RandomFloats(rng, B * T * H * D);
        var results = new[] { one, two, three }.Select(b => Run(b, qkv, dO, null, B, H, T, D, AttentionMask.Causal, 10_000f,
            null)).ToArray();
        foreach (var r in results.Skip(1))
        {
            Numerics.AssertBits(results[0].O, r.O, "o, 1 vs n threads");
            Numerics.AssertBits(results[0].Lse, r.Lse, "lse, 1 vs n threads");
            Numerics.AssertBits(results[0].Dqkv, r.Dqkv, "dqkv, 1 vs n threads");
        }
    }

    [Fact]
    public void Cpu_is_bit_identical_to_the_separate_split_rope_attention_merge_kernels()
    {
        // The CPU kernel rotates with the RoPE kernel's arithmetic and then scales, as the old composition did.
        var backend = TestBackends.Cpu;
        const int B = 2, H = 3, T = 37, D = 8;
        var rng = new Random(5);
        var qkv = Numerics.RandomFloats(rng, B * T * 3 * H * D, 2f);
        var fused = Run(backend, qkv, Numerics.RandomFloats(rng, B * T * H * D), null, B, H, T, D, AttentionMask.None, 10_000f, null);
        var (q, k, v) = Split(qkv, B, T, H, D);
        int n = B * H * T * D;
        using var bq = backend.Upload<float>(q);
        using var bk = backend.Upload<float>(k);
        using var bv = backend.Upload<float>(v);
        backend.RopeForward(bq, B, H, T, D, 10_000f, bq);
        backend.RopeForward(bk, B, H, T, D, 10_000f, bk);
        using var o = backend.Allocate<float>(n);
        using var lse = backend.Allocate<float>(B * H * T);
        backend.AttentionForward(bq, bk, bv, null, B, H, T, D, AttentionMask.None, o, lse);
        Numerics.AssertBits(Merge(o.ToArray(), B, T, H, D), fused.O, "o, fused vs composed");
        Numerics.AssertBits(lse.ToArray(), fused.Lse, "lse, fused vs composed");
    }

    [Fact]
    public void Bad_arguments_get_one_clear_error()
    {
        var backend = TestBackends.Cpu;
        using var qkv = backend.Allocate<float>(2 * 4 * 3 * 2 * 3);
        using var o = backend.Allocate<float>(2 * 4 * 2 * 3);
        using var lse = backend.Allocate<float>(2 * 2 * 4);
        var odd = Assert.Throws<ArgumentException>(() =>
            backend.AttentionQkvForward(qkv, null, 2, 2, 4, 3, AttentionMask.None, 10_000f, o, lse));
        Assert.Contains("'headDim' must be even", odd.Message);
        using var qkv2 = backend.Allocate<float>(2 * 4 * 3 * 2 * 2);
        using var o2 = backend.Allocate<float>(2 * 4 * 2 * 2);
        var theta = Assert.Throws<ArgumentOutOfRangeException>(() =>
            backend.AttentionQkvForward(qkv2, null, 2, 2, 4, 2, AttentionMask.None, 0.5f, o2, lse));
        Assert.Contains("'ropeTheta'", theta.Message);
        var wrong = Assert.ThrowsAny<ArgumentException>(() =>
            backend.AttentionQkvForward(o, null, 2, 2, 4, 3, AttentionMask.None, null, o, lse));
        Assert.Contains("'qkv'", wrong.Message);
    }

    private static void Check(Backend backend, int batch, int heads, int tokens, int headDim, AttentionMask mask,
        float? theta, bool accumulate, int seed)
    {
        var rng = new Random(seed ^ 0x3c6ef372);
        int[]? lengths = (mask & AttentionMask.KeyPadding) == 0 ? null :
            Enumerable.Range(0, batch).Select(b => b == 0 ? tokens : rng.Next(tokens + 1)).ToArray();
        int n = batch * heads * tokens * headDim;
        var qkv = Numerics.RandomFloats(rng, 3 * n, 2f);
        var dO = Numerics.RandomFloats(rng, n);
        float[]? prefill = accumulate ? Numerics.RandomFloats(rng, 3 * n) : null;
        var r = Run(backend, qkv, dO, lengths, batch, heads, tokens, headDim, mask, theta, prefill);
        string context = $"{backend.Name}, seed {seed}, (B, T, H, D) = ({batch}, {tokens}, {heads}, {headDim}), mask {mask}, " +
            $"theta {theta?.ToString() ?? "none"}, accumulate {accumulate}, lengths [{string.Join(", ", lengths ?? [])}]";

        // Reference: split, rotate q and k (float64, cast), attention in float64, merge; back the same way.
        var (q, k, v) = Split(qkv, batch, tokens, heads, headDim);
        if (theta is float th)
        {
            q = RopeReference.Forward(q, batch, heads, tokens, headDim, th).Select(x => (float)x).ToArray();
            k = RopeReference.Forward(k, batch, heads, tokens, headDim, th).Select(x => (float)x).ToArray();
        }
        var (eo, eLse) = AttentionReference.Forward(q, k, v, lengths, batch, heads, tokens, headDim, mask);
        var dOh = Split1(dO, batch, tokens, heads, headDim);
        var (edq, edk, edv) = AttentionReference.Backward(q, k, v, dOh, lengths, batch, heads, tokens, headDim, mask);
        if (theta is float th2)
        {
            var zero = new float[n];
            edq = RopeReference.Backward(edq.Select(x => (float)x).ToArray(), batch, heads, tokens, headDim, th2, zero);
            edk = RopeReference.Backward(edk.Select(x => (float)x).ToArray(), batch, heads, tokens, headDim, th2, zero);
        }
        var edqkv = MergeQkv(edq, edk, edv, batch, tokens, heads, headDim);
        if (prefill is not null)
        {
            for (int i = 0; i < edqkv.Length; i++)
            {
                edqkv[i] += prefill[i];
            }
        }
        double tol = Numerics.Tolerance(tokens + headDim, 4e-6);
        Numerics.AssertClose(MergeD(eo, batch, tokens, heads, headDim), r.O, tol, $"o on {context}");
        for (int i = 0; i < eLse.Length; i++)
        {
            bool empty = double.IsNegativeInfinity(eLse[i]);
            Assert.True(empty == float.IsNegativeInfinity(r.Lse[i]), $"lse[{i}] on {context}: expected {eLse[i]}, got {r.Lse[i]}");
            if (empty)
            {
                (eLse[i], r.Lse[i]) = (0, 0);
            }
        }
        Numerics.AssertClose(eLse, r.Lse, tol, $"lse on {context}");
        Numerics.AssertClose(edqkv, r.Dqkv, tol, $"dqkv on {context}");
    }

    private sealed record Result(float[] O, float[] Lse, float[] Dqkv);

    /// <summary>Forward into poisoned o and lse; backward into a poisoned (write) or prefilled (accumulate) dqkv.</summary>
    private static Result Run(Backend backend, float[] qkv, float[] dO, int[]? lengths, int batch, int heads, int tokens,
        int headDim, AttentionMask mask, float? theta, float[]? prefill)
    {
        int n = batch * heads * tokens * headDim;
        using var bqkv = backend.Upload<float>(qkv);
        using var bdO = backend.Upload<float>(dO);
        using var o = Numerics.Poisoned(backend, n);
        using var lse = Numerics.Poisoned(backend, batch * heads * tokens);
        using var len = lengths is null ? null : backend.Upload<int>(lengths);
        using var dqkv = prefill is null ? Numerics.Poisoned(backend, 3 * n) : backend.Upload<float>(prefill);
        backend.AttentionQkvForward(bqkv, len, batch, heads, tokens, headDim, mask, theta, o, lse);
        backend.AttentionQkvBackward(bqkv, o, lse, bdO, len, batch, heads, tokens, headDim, mask, theta, dqkv,
            accumulate: prefill is not null);
        return new Result(o.ToArray(), lse.ToArray(), dqkv.ToArray());
    }

    /// <summary>(B, T, 3, H, D) → head-major q, k, v (B, H, T, D).</summary>
    private static (float[] Q, float[] K, float[] V) Split(float[] qkv, int b, int t, int h, int d)
    {
        var parts = new float[3][];
        for (int j = 0; j < 3; j++)
        {
            parts[j] = new float[b * h * t * d];
            for (int bb = 0; bb < b; bb++)
                for (int tt = 0; tt < t; tt++)
                    for (int hh = 0; hh < h; hh++)
                        for (int dd = 0; dd < d; dd++)
                        {
                            parts[j][((bb * h + hh) * t + tt) * d + dd] = qkv[(((bb * t + tt) * 3 + j) * h + hh) * d + dd];
                        }
        }
        return (parts[0], parts[1], parts[2]);
    }

    /// <summary>(B, T, H, D) → (B, H, T, D).</summary>
    private static float[] Split1(float[] x, int b, int t, int h, int d)
    {
        var y = new float[x.Length];
        for (int bb = 0; bb < b; bb++)
            for (int tt = 0; tt < t; tt++)
                for (int hh = 0; hh < h; hh++)
                    for (int dd = 0; dd < d; dd++)
                    {
                        y[((bb * h + hh) * t + tt) * d + dd] = x[((bb * t + tt) * h + hh) * d + dd];
                    }
        return y;
    }

    /// <summary>(B, H, T, D) → (B, T, H, D).</summary>
    private static float[] Merge(float[] x, int b, int t, int h, int d) =>
        MergeD(x.Select(v => (double)v).ToArray(), b, t, h, d).Select(v => (float)v).ToArray();

    private static double[] MergeD(double[] x, int b, int t, int h, int d)
    {
        var y = new double[x.Length];
        for (int bb = 0; bb < b; bb++)
            for (int tt = 0; tt < t; tt++)
                for (int hh = 0; hh < h; hh++)
                    for (int dd = 0; dd < d; dd++)
                    {
                        y[((bb * t + tt) * h + hh) * d + dd] = x[((bb * h + hh) * t + tt) * d + dd];
                    }
        return y;
    }

    /// <summary>Head-major dq, dk, dv → (B, T, 3, H, D).</summary>
    private static double[] MergeQkv(double[] dq, double[] dk, double[] dv, int b, int t, int h, int d)
    {
        var y = new double[3 * dq.Length];
        double[][] parts = [dq, dk, dv];
        for (int j = 0; j < 3; j++)
            for (int bb = 0; bb < b; bb++)
                for (int tt = 0; tt < t; tt++)
                    for (int hh = 0; hh < h; hh++)
                        for (int dd = 0; dd < d; dd++)
                        {
                            y[(((bb * t + tt) * 3 + j) * h + hh) * d + dd] = parts[j][((bb * h + hh) * t + tt) * d + dd];
                        }
        return y;
    }
}
