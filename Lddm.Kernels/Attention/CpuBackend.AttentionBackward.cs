using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static Lddm.Kernels.Cpu.AttentionCpuKernels;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Backward query rows per tile: 64 halves the dK/dV accumulator loads and stores per FMA vs 32.</summary>
    private const int BackwardQueryTile = 64;

    /// <summary>
    /// Backward (FlashAttention-2 recomputation), one (b, h) pair per work item so dk/dv/dq of a pair have a single
    /// writer (no races, deterministic). Per pair: Kᵀ and Vᵀ tiles and s·K are packed once; for each query tile
    /// and key tile: P = exp(s·QKᵀ − lse), dP = dO·Vᵀ, dS = P∘(dP − Δ), then dV += Pᵀ·dO, dK += dSᵀ·(s·Q) into
    /// per-pair accumulators and dQ += dS·(s·K) into a per-tile one; all are added to the outputs at the end.
    /// </summary>
    protected override unsafe void AttentionBackwardCore(DeviceBuffer<float> q, DeviceBuffer<float> k,
        DeviceBuffer<float> v, DeviceBuffer<float> o, DeviceBuffer<float> lse, DeviceBuffer<float> dO,
        DeviceBuffer<int>? validLengths, AttentionDims dims, DeviceBuffer<float> dq, DeviceBuffer<float> dk,
        DeviceBuffer<float> dv)
    {
        var ptr = new BackwardPointers(Raw(q).Pointer, Raw(k).Pointer, Raw(v).Pointer, Raw(o).Pointer,
            Raw(lse).Pointer, Raw(dO).Pointer, validLengths is null ? null : Raw(validLengths).Pointer,
            Raw(dq).Pointer, Raw(dk).Pointer, Raw(dv).Pointer);
        AttentionBackward(ptr, new AttentionGeometry(dims, qkvLayout: false, null), dims, accumulate: true);
    }

    /// <summary>
    /// The backward on any <see cref="AttentionGeometry"/>; dq, dk, dv are added to (<paramref name="accumulate"/>)
    /// or overwritten, every element either way.
    /// </summary>
    private unsafe void AttentionBackward(BackwardPointers ptr, AttentionGeometry g, AttentionDims dims, bool accumulate)
    {
        float scale = dims.Scale;
        ParallelClaims(dims.Pairs, 1, (start, end) =>
        {
            int kd = g.KeyRows * g.Dp, qd = BackwardQueryTile * g.Dp;
            float* kt = Scratch(5 * kd + 3 * qd + 2 * BackwardQueryTile * KeyTile + 2 * BackwardQueryTile);
            var w = new BackwardScratch(kt, kd, qd);
            for (int bh = start; bh < end; bh++)
            {
                BackwardPair(ptr, g, scale, bh, w, accumulate);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardPair(BackwardPointers ptr, AttentionGeometry g, float scale, int bh,
        BackwardScratch w, bool accumulate)
    {
        long offset = g.InOffset(bh), outOffset = g.OutOffset(bh);
        PackTransposedTiles(ptr.K + offset, g, rope: true, w.Kt);
        PackTransposedTiles(ptr.V + offset, g, rope: false, w.Vt);
        PackRows(ptr.K + offset, g.T, g.KeyRows, g, scale, w.Ks, ropeFrom: 0);
        new Span<float>(w.DK, g.KeyRows * g.Dp).Clear();
        new Span<float>(w.DV, g.KeyRows * g.Dp).Clear();
        for (int q0 = 0; q0 < g.T; q0 += BackwardQueryTile)
        {
            int rows = Math.Min(BackwardQueryTile, g.T - q0);
            int keys = g.KeyLimit(ptr.Lengths, bh, q0, BackwardQueryTile);
            long rowOffset = offset + q0 * g.InRow, outRowOffset = outOffset + q0 * g.OutRow;
            if (keys <= 0)
            {
                // every row of the tile is fully masked: zero gradients
                if (!accumulate)
                {
                    new Span<float>(w.DQ, BackwardQueryTile * g.Dp).Clear();
                    StoreRows(w.DQ, rows, g, ptr.Dq + rowOffset, -1, accumulate);
                }
                continue;
            }
            PackRows(ptr.Q + rowOffset, rows, BackwardQueryTile, g, scale, w.Qs, ropeFrom: q0);
            PackRows(ptr.DO + outRowOffset, rows, BackwardQueryTile, g, 1f, w.DOs, ropeFrom: -1, g.OutRow);
            for (int r = 0; r < BackwardQueryTile; r++)
            {
                w.Lse[r] = r < rows ? ptr.Lse[(long)bh * g.T + q0 + r] : 0f;
                w.Delta[r] = r < rows ? Simd.Dot(ptr.DO + outRowOffset + r * g.OutRow, ptr.O + outRowOffset + r * g.OutRow, g.D) : 0f;
            }
            new Span<float>(w.DQ, BackwardQueryTile * g.Dp).Clear();
            for (int k0 = 0; k0 < keys; k0 += KeyTile)
            {
                int n = Math.Min(KeyTile, keys - k0), m4 = (n + 3) & ~3;
                long kOff = (long)k0 * g.Dp;
                Scores(w.Qs, g.Dp, w.Kt + kOff, w.P, BackwardQueryTile, g.D);
                Scores(w.DOs, g.Dp, w.Vt + kOff, w.DS, BackwardQueryTile, g.D);
                for (int r = 0; r < BackwardQueryTile; r++)
                {
                    int limit = g.RowLimit(ptr.Lengths, bh, q0 + r) - k0;
                    ProbabilityRow(w.P + r * KeyTile, w.DS + r * KeyTile, limit, w.Lse[r], w.Delta[r]);
                }
                Accumulate(w.P, 1, KeyTile, w.DOs, w.DV + kOff, m4, rows, g.Dp);   // dV[j] += Σ_i P[i,j]·dO[i]
                Accumulate(w.DS, 1, KeyTile, w.Qs, w.DK + kOff, m4, rows, g.Dp);   // dK[j] += Σ_i dS[i,j]·s·Q[i]
                Accumulate(w.DS, KeyTile, 1, w.Ks + kOff, w.DQ, BackwardQueryTile, n, g.Dp); // dQ[i] += Σ_j dS[i,j]·s·K[j]
            }
            StoreRows(w.DQ, rows, g, ptr.Dq + rowOffset, q0, accumulate);
        }
        StoreRows(w.DK, g.T, g, ptr.Dk + offset, 0, accumulate);
        StoreRows(w.DV, g.T, g, ptr.Dv + offset, -1, accumulate);
    }

    /// <summary>p = exp(s − lse) on keys j &lt; limit (0 beyond); ds = p∘(dp − Δ) in place of dp.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ProbabilityRow(float* p, float* ds, int limit, float lse, float delta)
    {
        if (limit <= 0)
        {
            new Span<float>(p, KeyTile).Clear();
            new Span<float>(ds, KeyTile).Clear();
            return;
        }
        if (!Vector512.IsHardwareAccelerated && Vector256.IsHardwareAccelerated)
        {
            ProbabilityRow256(p, ds, limit, lse, delta);
            return;
        }
        if (!Vector512.IsHardwareAccelerated)
        {
            for (int j = 0; j < KeyTile; j++)
            {
                p[j] = j < limit ? MathF.Exp(p[j] - lse) : 0f;
                ds[j] = p[j] * (ds[j] - delta);
            }
            return;
        }
        var (s0, s1, s2, s3) = LoadMasked(p, limit, float.NegativeInfinity);
        var vl = Vector512.Create(lse);
        var vd = Vector512.Create(delta);
        var p0 = SimdMath.Exp(s0 - vl);
        var p1 = SimdMath.Exp(s1 - vl);
        var p2 = SimdMath.Exp(s2 - vl);
        var p3 = SimdMath.Exp(s3 - vl);
        p0.Store(p); p1.Store(p + 16); p2.Store(p + 32); p3.Store(p + 48);
        (p0 * (Vector512.Load(ds) - vd)).Store(ds);
        (p1 * (Vector512.Load(ds + 16) - vd)).Store(ds + 16);
        (p2 * (Vector512.Load(ds + 32) - vd)).Store(ds + 32);
        (p3 * (Vector512.Load(ds + 48) - vd)).Store(ds + 48);
    }

    /// <summary>
    /// dst (rows × D, row stride InRow) += src (rows × Dp), or = when not <paramref name="accumulate"/>. With
    /// <paramref name="ropeFrom"/> ≥ 0 and a RoPE table, row r is rotated back (by −a, the transpose) from
    /// position ropeFrom + r: the gradient of the rotated q or k becomes that of the unrotated one.
    /// </summary>
    private static unsafe void StoreRows(float* src, int rows, AttentionGeometry g, float* dst, int ropeFrom, bool accumulate)
    {
        bool rope = ropeFrom >= 0 && g.Cos != null;
        for (int r = 0; r < rows; r++)
        {
            float* x = src + (long)r * g.Dp, y = dst + r * g.InRow;
            if (rope)
            {
                int t = (ropeFrom + r) * g.Half;
                RopeRow(x, y, g.Cos + t, g.Sin + t, g.Half, -1f, accumulate);
                continue;
            }
            int d = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                for (; d <= g.D - 16; d += 16)
                {
                    var sum = accumulate ? Vector512.Load(y + d) + Vector512.Load(x + d) : Vector512.Load(x + d);
                    sum.Store(y + d);
                }
            }
            for (; d < g.D; d++)
            {
                y[d] = accumulate ? y[d] + x[d] : x[d];
            }
        }
    }

    private readonly unsafe struct BackwardPointers(float* q, float* k, float* v, float* o, float* lse, float* dO,
        int* lengths, float* dq, float* dk, float* dv)
    {
        public readonly float* Q = q, K = k, V = v, O = o, Lse = lse, DO = dO, Dq = dq, Dk = dk, Dv = dv;
        public readonly int* Lengths = lengths;
    }

    /// <summary>Carves one thread's scratch: 5 (KeyRows × Dp) panels, 3 (32 × Dp) tiles, 2 score tiles, 2 rows.</summary>
    private readonly unsafe struct BackwardScratch
    {
        public readonly float* Kt, Vt, Ks, DK, DV, Qs, DOs, DQ, P, DS, Lse, Delta;

        public BackwardScratch(float* s, int kd, int qd)
        {
            Kt = s; Vt = Kt + kd; Ks = Vt + kd; DK = Ks + kd; DV = DK + kd;
            Qs = DV + kd; DOs = Qs + qd; DQ = DOs + qd;
            P = DQ + qd; DS = P + BackwardQueryTile * KeyTile;
            Lse = DS + BackwardQueryTile * KeyTile; Delta = Lse + BackwardQueryTile;
        }
    }
}
