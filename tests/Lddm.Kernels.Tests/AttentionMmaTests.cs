using System.Globalization;
using FsCheck.Xunit;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The TF32 tensor-core attention forward (<c>AttentionMmaIlgpuKernels.ForwardMma</c>) on the simulator's emulation
/// path (<see cref="TestBackends.IlgpuMma"/>), against the float64 reference with a tolerance derived from TF32
/// rounding: the scores of row t carry at most scale·maxⱼ Σ_d |q_td·k_jd|·2⁻¹⁰ (q, k rounded to 10 mantissa bits), which
/// moves each softmax weight by at most twice that relatively; P and V add 2⁻¹¹ each. Shapes cover several 64-query
/// and 32-key tiles with ragged ends, every mask, padded lengths of 0 and 1, and head dims 8–64.
/// </summary>
public sealed class AttentionMmaTests
{
    private static readonly AttentionMask[] s_masks =
        [AttentionMask.None, AttentionMask.Causal, AttentionMask.KeyPadding, AttentionMask.CausalKeyPadding];

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void Tensor_core_forward_matches_the_reference_within_tf32_rounding(SmallDim tokens, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(2), heads = 1 + rng.Next(2), headDim = 8 * (1 + rng.Next(8));
        int t = tokens + (rng.Next(3) == 0 ? 64 + rng.Next(40) : 0);
        Check(batch, heads, t, headDim, s_masks[rng.Next(4)], seed);
    }

    [Theory]
    [InlineData(1, 16)]
    [InlineData(33, 32)]
    [InlineData(64, 64)]
    [InlineData(97, 8)]
    [InlineData(130, 64)]
    public void Edge_shapes_match_in_every_mask(int tokens, int headDim)
    {
        foreach (var mask in s_masks)
        {
            Check(2, 1, tokens, headDim, mask, seed: tokens * 131 + headDim);
        }
    }

    /// <summary>
    /// The tensor-core backward (dK/dV and dQ kernels) from the float64 forward's o and lse, against the float64
    /// gradients (added to prefilled ones), within bounds propagated from TF32 rounding: the scores' error e_t (above)
    /// moves P by 2e_t relatively, the TF32 operands of dP, of the staged P and dS and of the last products add 2⁻¹⁰.
    /// </summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    public void Tensor_core_backward_matches_the_reference_within_tf32_rounding(SmallDim tokens, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(2), heads = 1 + rng.Next(2), headDim = 8 * (1 + rng.Next(8));
        int t = tokens + (rng.Next(3) == 0 ? 32 + rng.Next(40) : 0);
        CheckBackward(batch, heads, t, headDim, s_masks[rng.Next(4)], seed);
    }

    [Theory]
    [InlineData(1, 8)]
    [InlineData(33, 16)]
    [InlineData(70, 64)]
    public void Backward_edge_shapes_match_in_every_mask(int tokens, int headDim)
    {
        foreach (var mask in s_masks)
        {
            CheckBackward(2, 1, tokens, headDim, mask, seed: tokens * 7 + headDim);
        }
    }

    /// <summary>
    /// The ~10·T²·D backward (dK/dV writing dSᵀ, then dQ = scale·dS·K) in chunks of (b, h) pairs: a budget of one
    /// pair's scratch (5 chunks) and of two pairs' (3 chunks, the last short) give the one-chunk gradients bit for
    /// bit, a rerun gives the same bits, each run matches the float64 reference from NaN-poisoned scratch, launches
    /// are 1 (Δ) + 2 per chunk, and the pool never holds more than Δ plus the budget's whole pairs of scratch.
    /// </summary>
    [Theory]
    [InlineData(70, 24, AttentionMask.CausalKeyPadding)]
    [InlineData(45, 64, AttentionMask.None)]
    [InlineData(33, 8, AttentionMask.Causal)]
    [InlineData(96, 16, AttentionMask.KeyPadding)]
    public void Backward_in_chunks_of_pairs_gives_the_same_bits_within_the_scratch_budget(int tokens, int headDim,
        AttentionMask mask)
    {
        const int batch = 5, heads = 1, pairs = batch * heads;
        long perPair = AttentionMmaIlgpuKernels.DsScratchFloatsPerPair(tokens) * sizeof(float), delta = 4L * pairs * tokens;
        int seed = tokens * 31 + headDim;
        var one = CheckBackward(batch, heads, tokens, headDim, mask, seed);
        Assert.Equal(3, one.Launches);
        Assert.Equal(delta + pairs * perPair, one.PeakBytes);
        var again = CheckBackward(batch, heads, tokens, headDim, mask, seed);
        AssertSameBits(one, again, "rerun");
        foreach (var (budget, chunks, held) in new[] { (perPair, 5, perPair), (3 * perPair - 1, 3, 2 * perPair) })
        {
            var run = CheckBackward(batch, heads, tokens, headDim, mask, seed, budget);
            Assert.Equal(1 + 2 * chunks, run.Launches);
            Assert.Equal(delta + held, run.PeakBytes);
            AssertSameBits(one, run, $"budget {budget} B ({chunks} chunks)");
        }
    }

    /// <summary>
    /// When one pair's dSᵀ does not fit the budget, the backward without scratch (the dQ kernel recomputes S and dP)
    /// runs: no scratch taken from the pool, and the float64 reference still holds, in every mask.
    /// </summary>
    [Theory]
    [InlineData(70, 24)]
    [InlineData(33, 64)]
    public void Backward_falls_back_to_recomputing_ds_when_one_pair_exceeds_the_budget(int tokens, int headDim)
    {
        const int batch = 2, heads = 1;
        long perPair = AttentionMmaIlgpuKernels.DsScratchFloatsPerPair(tokens) * sizeof(float);
        foreach (var mask in s_masks)
        {
            var run = CheckBackward(batch, heads, tokens, headDim, mask, tokens + headDim, budget: perPair - 1);
            Assert.Equal(3, run.Launches);
            Assert.Equal(4L * batch * heads * tokens, run.PeakBytes);
        }
    }

    private static void AssertSameBits(BackwardRun expected, BackwardRun actual, string context)
    {
        Numerics.AssertBits(expected.Dq, actual.Dq, $"dq, {context}");
        Numerics.AssertBits(expected.Dk, actual.Dk, $"dk, {context}");
        Numerics.AssertBits(expected.Dv, actual.Dv, $"dv, {context}");
    }

    [Fact]
    public void The_tensor_core_kernel_is_the_one_that_runs_and_only_for_the_head_dims_it_serves()
    {
        Assert.True(AttentionMmaIlgpuKernels.Supports(8) && AttentionMmaIlgpuKernels.Supports(64));
        Assert.False(AttentionMmaIlgpuKernels.Supports(12) || AttentionMmaIlgpuKernels.Supports(72) || AttentionMmaIlgpuKernels.Supports(0));
        // TF32 rounding makes its output differ from the FP32 kernel's by far more than FP32 rounding would.
        var rng = new Random(5);
        int n = 2 * 40 * 32;
        float[] q = Numerics.RandomFloats(rng, n, 2f), k = Numerics.RandomFloats(rng, n, 2f), v = Numerics.RandomFloats(rng, n);
        var (mma, _) = Forward(TestBackends.IlgpuMma, q, k, v, null, 1, 2, 40, 32, AttentionMask.None);
        var (fp32, _) = Forward(TestBackends.IlgpuCpu, q, k, v, null, 1, 2, 40, 32, AttentionMask.None);
        double diff = mma.Zip(fp32, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(diff > 1e-5, $"the mma backend's attention equals the FP32 kernel's to {diff:E2}: the tensor-core path did not run");
        // A head dim it does not serve falls back to the FP32 kernel, bit for bit.
        n = 40 * 12;
        q = Numerics.RandomFloats(rng, n, 2f);
        k = Numerics.RandomFloats(rng, n, 2f);
        v = Numerics.RandomFloats(rng, n);
        Numerics.AssertBits(Forward(TestBackends.IlgpuCpu, q, k, v, null, 1, 1, 40, 12, AttentionMask.Causal).O,
            Forward(TestBackends.IlgpuMma, q, k, v, null, 1, 1, 40, 12, AttentionMask.Causal).O, "head dim 12");
    }

    private static void Check(int batch, int heads, int tokens, int headDim, AttentionMask mask, int seed)
    {
        var rng = new Random(seed);
        int n = batch * heads * tokens * headDim;
        float[] q = Numerics.RandomFloats(rng, n, 2f), k = Numerics.RandomFloats(rng, n, 2f), v = Numerics.RandomFloats(rng, n);
        int[]? lengths = (mask & AttentionMask.KeyPadding) == 0 ? null :
            Enumerable.Range(0, batch).Select(b => b == 0 ? tokens : rng.Next(3) switch { 0 => 0, 1 => 1, _ => rng.Next(tokens + 1) }).ToArray();
        var (o, lse) = Forward(TestBackends.IlgpuMma, q, k, v, lengths, batch, heads, tokens, headDim, mask);
        var (eo, eLse) = AttentionReference.Forward(q, k, v, lengths, batch, heads, tokens, headDim, mask);
        string context = $"{TestBackends.IlgpuMma.Name}, seed {seed}, (B, H, T, D) = ({batch}, {heads}, {tokens}, {headDim}), " +
            $"mask {mask}, lengths [{string.Join(", ", lengths ?? [])}]";
        double scale = 1 / Math.Sqrt(headDim), vmax = v.Max(x => Math.Abs(x)), tf32 = Math.ScaleB(1, -10);
        for (int row = 0; row < batch * heads * tokens; row++)
        {
            int bh = row / tokens, b = bh / heads, t = row % tokens;
            // The largest possible TF32 error of this row's scores, over the keys it may attend to.
            double scoreError = 0;
            for (int j = 0; j < tokens; j++)
            {
                if (AttentionReference.Allowed(mask, lengths, b, t, j))
                {
                    double s = 0;
                    for (int d = 0; d < headDim; d++)
                    {
                        s += Math.Abs(q[row * headDim + d] * k[(bh * tokens + j) * headDim + d]);
                    }
                    scoreError = Math.Max(scoreError, scale * s * tf32);
                }
            }
            double oTol = (2 * scoreError + tf32) * vmax + 1e-5, lseTol = scoreError + 1e-5;
            for (int d = 0; d < headDim; d++)
            {
                int i = row * headDim + d;
                if (!(Math.Abs(o[i] - eo[i]) <= oTol))
                {
                    throw new XunitException($"o[{row}, {d}] = {o[i]:R}, expected {eo[i]:R} ± {oTol:E2} on {context}");
                }
            }
            bool noKey = double.IsNegativeInfinity(eLse[row]);
            if (noKey ? !float.IsNegativeInfinity(lse[row]) : !(Math.Abs(lse[row] - eLse[row]) <= lseTol))
            {
                throw new XunitException($"lse[{row}] = {lse[row]:R}, expected {eLse[row]:R} ± {lseTol:E2} on {context}");
            }
        }
    }

    /// <summary>
    /// One backward on <see cref="TestBackends.IlgpuMma"/> under a dSᵀ scratch budget (null: the default), checked
    /// against the float64 gradients; the chunk's scratch is taken from the pool NaN-filled (a buffer of its exact
    /// length is filled and returned first), so a dS block the dQ kernel reads but nobody wrote fails the check.
    /// Returns the gradients, the launches of the backward and the pool bytes it held at its peak.
    /// </summary>
    private static BackwardRun CheckBackward(int batch, int heads, int tokens, int headDim, AttentionMask mask, int seed,
        long? budget = null)
    {
        var backend = TestBackends.IlgpuMma;
        var rng = new Random(seed ^ 0x2545F491);
        int n = batch * heads * tokens * headDim, rows = batch * heads * tokens;
        float[] q = Numerics.RandomFloats(rng, n, 2f), k = Numerics.RandomFloats(rng, n, 2f);
        float[] v = Numerics.RandomFloats(rng, n), dO = Numerics.RandomFloats(rng, n);
        var prefill = new[] { Numerics.RandomFloats(rng, n), Numerics.RandomFloats(rng, n), Numerics.RandomFloats(rng, n) };
        int[]? lengths = (mask & AttentionMask.KeyPadding) == 0 ? null :
            Enumerable.Range(0, batch).Select(b => b == 0 ? tokens : rng.Next(3) switch { 0 => 0, 1 => 1, _ => rng.Next(tokens + 1) }).ToArray();
        var (eo, eLse) = AttentionReference.Forward(q, k, v, lengths, batch, heads, tokens, headDim, mask);
        var (edq, edk, edv) = AttentionReference.Backward(q, k, v, dO, lengths, batch, heads, tokens, headDim, mask);
        using var bq = backend.Upload<float>(q);
        using var bk = backend.Upload<float>(k);
        using var bv = backend.Upload<float>(v);
        using var bdO = backend.Upload<float>(dO);
        using var bo = backend.Upload<float>(eo.Select(x => (float)x).ToArray());
        using var blse = backend.Upload<float>(eLse.Select(x => (float)x).ToArray());
        using var bl = lengths is null ? null : backend.Upload<int>(lengths);
        using var gq = backend.Upload<float>(prefill[0]);
        using var gk = backend.Upload<float>(prefill[1]);
        using var gv = backend.Upload<float>(prefill[2]);
        long saved = backend.AttentionScratchBudgetBytes;
        backend.AttentionScratchBudgetBytes = budget ?? IlgpuBackend.DefaultAttentionScratchBudgetBytes;
        long launches, peakBytes;
        try
        {
            var dims = new AttentionDims(batch, heads, tokens, headDim, mask);
            int chunk = IlgpuBackend.AttentionScratchPairs(dims, backend.AttentionScratchBudgetBytes);
            if (chunk > 0)
            {
                using var poison = Numerics.Poisoned(backend, (int)(chunk * AttentionMmaIlgpuKernels.DsScratchFloatsPerPair(tokens)));
            }
            backend.Synchronize();
            backend.ResetPeakMemory();
            long live = backend.PoolStatistics.LiveBytes;
            var before = backend.Counters;
            backend.AttentionBackward(bq, bk, bv, bo, blse, bdO, bl, batch, heads, tokens, headDim, mask, gq, gk, gv);
            launches = (backend.Counters - before).Launches;
            peakBytes = backend.PoolStatistics.PeakLiveBytes - live;
        }
        finally
        {
            backend.AttentionScratchBudgetBytes = saved;
        }
        string context = $"{backend.Name}, seed {seed}, (B, H, T, D) = ({batch}, {heads}, {tokens}, {headDim}), mask {mask}, " +
            $"lengths [{string.Join(", ", lengths ?? [])}], scratch budget {budget?.ToString(CultureInfo.InvariantCulture) ?? "default"}";

        // Error bounds, from the float64 P, dP, Δ and dS of every allowed (t, j).
        double scale = 1 / Math.Sqrt(headDim), tf32 = Math.ScaleB(1, -10);
        var bq_ = new double[n];
        var bk_ = new double[n];
        var bv_ = new double[n];
        for (int bh = 0; bh < batch * heads; bh++)
        {
            int b = bh / heads, bas = bh * tokens * headDim;
            for (int t = 0; t < tokens; t++)
            {
                int qt = bas + t * headDim;
                double e = 0, delta = 0;
                for (int d = 0; d < headDim; d++)
                {
                    delta += dO[qt + d] * eo[qt + d];
                }
                for (int j = 0; j < tokens; j++)
                {
                    if (AttentionReference.Allowed(mask, lengths, b, t, j))
                    {
                        double s = 0;
                        for (int d = 0; d < headDim; d++)
                        {
                            s += Math.Abs(q[qt + d] * k[bas + j * headDim + d]);
                        }
                        e = Math.Max(e, scale * s * tf32);
                    }
                }
                for (int j = 0; j < tokens; j++)
                {
                    if (!AttentionReference.Allowed(mask, lengths, b, t, j))
                    {
                        continue;
                    }
                    int kj = bas + j * headDim;
                    double dot = 0, dp = 0, dpAbs = 0;
                    for (int d = 0; d < headDim; d++)
                    {
                        dot += q[qt + d] * k[kj + d];
                        dp += dO[qt + d] * v[kj + d];
                        dpAbs += Math.Abs(dO[qt + d] * v[kj + d]);
                    }
                    double p = Math.Exp(scale * dot - eLse[bh * tokens + t]), ds = p * (dp - delta);
                    double dsError = p * ((2 * e + tf32) * Math.Abs(dp - delta) + tf32 * dpAbs);
                    for (int d = 0; d < headDim; d++)
                    {
                        bv_[kj + d] += p * Math.Abs(dO[qt + d]) * (2 * e + tf32);
                        bk_[kj + d] += scale * Math.Abs(q[qt + d]) * (dsError + Math.Abs(ds) * tf32);
                        bq_[qt + d] += scale * Math.Abs(k[kj + d]) * (dsError + Math.Abs(ds) * tf32);
                    }
                }
            }
        }
        var run = new BackwardRun(gq.ToArray(), gk.ToArray(), gv.ToArray(), launches, peakBytes);
        AssertWithin("dq", edq, prefill[0], run.Dq, bq_, context);
        AssertWithin("dk", edk, prefill[1], run.Dk, bk_, context);
        AssertWithin("dv", edv, prefill[2], run.Dv, bv_, context);
        return run;
    }

    private sealed record BackwardRun(float[] Dq, float[] Dk, float[] Dv, long Launches, long PeakBytes);

    private static void AssertWithin(string name, double[] expected, float[] prefill, float[] got, double[] bound, string context)
    {
        for (int i = 0; i < got.Length; i++)
        {
            double want = expected[i] + prefill[i], tol = bound[i] + 1e-5 * (1 + Math.Abs(want));
            if (!(Math.Abs(got[i] - want) <= tol))
            {
                throw new XunitException($"{name}[{i}] = {got[i]:R}, expected {want:R} ± {tol:E2} on {context}");
            }
        }
    }

    private static (float[] O, float[] Lse) Forward(Backend backend, float[] q, float[] k, float[] v, int[]? lengths,
        int batch, int heads, int tokens, int headDim, AttentionMask mask)
    {
        using var dq = backend.Upload<float>(q);
        using var dk = backend.Upload<float>(k);
        using var dv = backend.Upload<float>(v);
        using var dl = lengths is null ? null : backend.Upload<int>(lengths);
        using var o = Numerics.Poisoned(backend, q.Length);
        using var lse = Numerics.Poisoned(backend, batch * heads * tokens);
        backend.AttentionForward(dq, dk, dv, dl, batch, heads, tokens, headDim, mask, o, lse);
        return (o.ToArray(), lse.ToArray());
    }
}
