using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Lddm.Kernels.Cpu.AttentionCpuKernels;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Query rows per tile: a (32 × 64) score tile and a (32 × D) output tile stay in L1.</summary>
    private const int QueryTile = 32;

    [ThreadStatic]
    private static float[]? t_attentionScratch;

    /// <summary>
    /// Forward: work items are (b·h, query tile), claimed dynamically by the cores (see <see cref="ParallelClaims"/>);
    /// a claim packs Kᵀ (in 64-key tiles) and V of a (b, h) once and reuses them for all its query tiles of that pair.
    /// </summary>
    protected override unsafe void AttentionForwardCore(DeviceBuffer<float> q, DeviceBuffer<float> k,
        DeviceBuffer<float> v, DeviceBuffer<int>? validLengths, AttentionDims dims, DeviceBuffer<float> o,
        DeviceBuffer<float> lse)
    {
        float* pq = Raw(q).Pointer, pk = Raw(k).Pointer, pv = Raw(v).Pointer, po = Raw(o).Pointer, pl = Raw(lse).Pointer;
        int* lengths = validLengths is null ? null : Raw(validLengths).Pointer;
        AttentionForward(new ForwardPointers(pq, pk, pv, po, pl, lengths), new AttentionGeometry(dims, qkvLayout: false, null), dims);
    }

    /// <summary>The forward on any <see cref="AttentionGeometry"/> (head-major, or read from a fused QKV buffer).</summary>
    private unsafe void AttentionForward(ForwardPointers ptr, AttentionGeometry g, AttentionDims dims)
    {
        int tiles = (dims.Tokens + QueryTile - 1) / QueryTile;
        // A claim is a whole (b, h) pair when there are enough pairs, so K and V are packed once per claim.
        int items = dims.Pairs * tiles;
        int grain = dims.Pairs >= 2 * Pool.Threads ? tiles : Math.Max(1, items / (4 * Pool.Threads));
        ParallelClaims(items, grain, (start, end) => ForwardChunk(ptr, g, dims.Scale, tiles, start, end));
    }

    /// <summary>
    /// Dynamic scheduling over [0, count): each worker claims ranges of <paramref name="grain"/> items from a shared
    /// counter until none are left, so a descheduled thread (a loaded machine) or uneven causal work does not leave
    /// the other cores idle. Every item is computed whole by one claim, so results never depend on the schedule.
    /// </summary>
    private void ParallelClaims(int count, int grain, Action<int, int> body)
    {
        int next = 0;
        int workers = Math.Min(Pool.Threads, (count + grain - 1) / grain);
        Pool.For(workers, 1, (_, _) =>
        {
            int start;
            while ((start = Interlocked.Add(ref next, grain) - grain) < count)
            {
                body(start, Math.Min(count, start + grain));
            }
        });
    }

    /// <summary>Work items [start, end) of the forward; hot, so jitted fully optimised from the first call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardChunk(ForwardPointers p, AttentionGeometry g, float scale, int tiles, int start, int end)
    {
        float* kt = Scratch(2 * g.KeyRows * g.Dp + 2 * QueryTile * g.Dp + QueryTile * KeyTile + 2 * QueryTile);
        float* vp = kt + g.KeyRows * g.Dp, qs = vp + g.KeyRows * g.Dp, os = qs + QueryTile * g.Dp;
        float* s = os + QueryTile * g.Dp, m = s + QueryTile * KeyTile, l = m + QueryTile;
        int packed = -1;
        for (int item = start; item < end; item++)
        {
            int bh = item / tiles, q0 = item % tiles * QueryTile;
            long offset = g.InOffset(bh);
            if (bh != packed)
            {
                PackTransposedTiles(p.K + offset, g, rope: true, kt);
                PackRows(p.V + offset, g.T, g.KeyRows, g, 1f, vp, ropeFrom: -1);
                packed = bh;
            }
            int keys = g.KeyLimit(p.Lengths, bh, q0, QueryTile);
            PackRows(p.Q + offset + q0 * g.InRow, Math.Min(QueryTile, g.T - q0), QueryTile, g, scale, qs, ropeFrom: q0);
            new Span<float>(os, QueryTile * g.Dp).Clear();
            new Span<float>(m, QueryTile).Fill(float.NegativeInfinity);
            new Span<float>(l, QueryTile).Clear();
            for (int k0 = 0; k0 < keys; k0 += KeyTile)
            {
                Scores(qs, g.Dp, kt + (long)k0 * g.Dp, s, QueryTile, g.D);
                for (int r = 0; r < QueryTile; r++)
                {
                    int limit = g.RowLimit(p.Lengths, bh, q0 + r) - k0;
                    float alpha = OnlineSoftmaxRow(s + r * KeyTile, limit, ref m[r], ref l[r]);
                    if (alpha != 1f)
                    {
                        ScaleRow(os + r * g.Dp, alpha, g.Dp);
                    }
                }
                Accumulate(s, KeyTile, 1, vp + (long)k0 * g.Dp, os, QueryTile, Math.Min(KeyTile, keys - k0), g.Dp);
            }
            WriteOutputTile(os, m, l, g, p.O + g.OutOffset(bh) + q0 * g.OutRow, p.Lse + (long)bh * g.T + q0, Math.Min(QueryTile, g.T - q0));
        }
    }

    /// <summary>
    /// One query row of a score tile: masks keys at and beyond <paramref name="limit"/>, updates the running max m
    /// and sum l, overwrites the row with p = exp(s − m). Returns α = exp(m_old − m_new), by which the row's output
    /// accumulator must be rescaled. A row with no allowed key in this tile gets p = 0 and α = 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float OnlineSoftmaxRow(float* s, int limit, ref float m, ref float l)
    {
        if (limit <= 0)
        {
            new Span<float>(s, KeyTile).Clear();
            return 1f;
        }
        if (!Vector512.IsHardwareAccelerated && Vector256.IsHardwareAccelerated)
        {
            return OnlineSoftmaxRow256(s, limit, ref m, ref l);
        }
        if (!Vector512.IsHardwareAccelerated)
        {
            float mx = m;
            for (int j = 0; j < Math.Min(limit, KeyTile); j++)
            {
                mx = MathF.Max(mx, s[j]);
            }
            float a = MathF.Exp(m - mx), sum = 0;
            for (int j = 0; j < KeyTile; j++)
            {
                s[j] = j < limit ? MathF.Exp(s[j] - mx) : 0f;
                sum += s[j];
            }
            (m, l) = (mx, l * a + sum);
            return a;
        }
        var (v0, v1, v2, v3) = LoadMasked(s, limit, float.NegativeInfinity);
        float mNew = MathF.Max(m, SimdMath.HorizontalMax(Vector512.Max(Vector512.Max(v0, v1), Vector512.Max(v2, v3))));
        float alpha = SimdMath.Exp(Vector512.Create(m - mNew)).ToScalar(); // inline, no libm call per row
        var vm = Vector512.Create(mNew);
        var p0 = SimdMath.Exp(v0 - vm);
        var p1 = SimdMath.Exp(v1 - vm);
        var p2 = SimdMath.Exp(v2 - vm);
        var p3 = SimdMath.Exp(v3 - vm);
        p0.Store(s); p1.Store(s + 16); p2.Store(s + 32); p3.Store(s + 48);
        l = l * alpha + Vector512.Sum((p0 + p1) + (p2 + p3));
        m = mNew;
        return alpha;
    }

    /// <summary>The 64 floats at s with lanes j ≥ limit replaced by <paramref name="fill"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>) LoadMasked(
        float* s, int limit, float fill)
    {
        Vector512<float> v0 = Vector512.Load(s), v1 = Vector512.Load(s + 16), v2 = Vector512.Load(s + 32), v3 = Vector512.Load(s + 48);
        if (limit < KeyTile)
        {
            var lim = Vector512.Create(limit);
            var idx = Vector512<int>.Indices;
            var f = Vector512.Create(fill);
            v0 = Vector512.ConditionalSelect(Vector512.LessThan(idx, lim).AsSingle(), v0, f);
            v1 = Vector512.ConditionalSelect(Vector512.LessThan(idx + Vector512.Create(16), lim).AsSingle(), v1, f);
            v2 = Vector512.ConditionalSelect(Vector512.LessThan(idx + Vector512.Create(32), lim).AsSingle(), v2, f);
            v3 = Vector512.ConditionalSelect(Vector512.LessThan(idx + Vector512.Create(48), lim).AsSingle(), v3, f);
        }
        return (v0, v1, v2, v3);
    }

    private static unsafe void ScaleRow(float* x, float alpha, int dp)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(alpha);
            for (; i < dp; i += 16)
            {
                (Vector512.Load(x + i) * va).Store(x + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(alpha);
            for (; i < dp; i += 8)
            {
                (Vector256.Load(x + i) * va).Store(x + i);
            }
        }
        for (; i < dp; i++)
        {
            x[i] *= alpha;
        }
    }

    /// <summary>o = O / l and lse = m + log l; rows that saw no allowed key get o = 0 and lse = −∞.</summary>
    private static unsafe void WriteOutputTile(float* os, float* m, float* l, AttentionGeometry g, float* o,
        float* lse, int rows)
    {
        for (int r = 0; r < rows; r++)
        {
            ScaleCopy(os + r * g.Dp, o + r * g.OutRow, g.D, l[r] > 0 ? 1f / l[r] : 0f);
            lse[r] = l[r] > 0 ? m[r] + MathF.Log(l[r]) : float.NegativeInfinity;
        }
    }

    /// <summary>
    /// dst (padRows × Dp) = scale · src (rows × D, row stride <see cref="AttentionGeometry.InRow"/>), zero-padded in
    /// both directions. With <paramref name="ropeFrom"/> ≥ 0 and a RoPE table, row r is first rotated to position
    /// ropeFrom + r (the rotated floats are then scaled: the same rounding as a separate RoPE pass).
    /// </summary>
    private static unsafe void PackRows(float* src, int rows, int padRows, AttentionGeometry g, float scale, float* dst,
        int ropeFrom, long srcRow = -1)
    {
        srcRow = srcRow < 0 ? g.InRow : srcRow;
        new Span<float>(dst, padRows * g.Dp).Clear();
        bool rope = ropeFrom >= 0 && g.Cos != null;
        for (int r = 0; r < rows; r++)
        {
            if (rope)
            {
                int t = (ropeFrom + r) * g.Half;
                float* row = dst + (long)r * g.Dp;
                RopeRow(src + r * srcRow, row, g.Cos + t, g.Sin + t, g.Half, 1f, accumulate: false);
                if (scale != 1f)
                {
                    ScaleRow(row, scale, g.Dp);
                }
            }
            else
            {
                ScaleCopy(src + r * srcRow, dst + (long)r * g.Dp, g.D, scale);
            }
        }
    }

    /// <summary>dst[i] = scale · src[i] for i &lt; n.</summary>
    private static unsafe void ScaleCopy(float* src, float* dst, int n, float scale)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(scale);
            for (; i <= n - 16; i += 16)
            {
                (Vector512.Load(src + i) * vs).Store(dst + i);
            }
        }
        for (; i < n; i++)
        {
            dst[i] = src[i] * scale;
        }
    }

    /// <summary>
    /// Packs K (T × D, row stride InRow) as 64-key tiles of Kᵀ: dst[(tile·Dp + d)·64 + j] = k[tile·64 + j, d],
    /// each row first rotated to its position when <paramref name="rope"/> and the geometry has a RoPE table.
    /// </summary>
    private static unsafe void PackTransposedTiles(float* src, AttentionGeometry g, bool rope, float* dst)
    {
        new Span<float>(dst, g.KeyRows * g.Dp).Clear();
        rope &= g.Cos != null;
        // Whole groups of 8 keys (8 consecutive keys lie in one 64-key tile) go through 8 × 8 register transposes, the
        // rows rotated first into a scratch block when RoPE applies: the element-by-element scatter (a 256-byte stride
        // per store) was 12 % of a T = 64, D = 32 attention's forward and backward. Same values, only moved.
        int d8 = Avx.IsSupported ? g.D / 8 * 8 : 0;
        int j8 = d8 > 0 ? g.T / 8 * 8 : 0;
        float* block = stackalloc float[8 * AttentionMaxHeadDim];
        for (int j0 = 0; j0 < j8; j0 += 8)
        {
            float* rows = src + j0 * g.InRow;
            long stride = g.InRow;
            if (rope)
            {
                for (int r = 0; r < 8; r++)
                {
                    int j = j0 + r;
                    RopeRow(src + j * g.InRow, block + r * AttentionMaxHeadDim, g.Cos + j * g.Half, g.Sin + j * g.Half, g.Half, 1f,
                        accumulate: false);
                }
                rows = block;
                stride = AttentionMaxHeadDim;
            }
            float* tile = dst + (long)(j0 / KeyTile) * KeyTile * g.Dp + j0 % KeyTile;
            for (int d = 0; d < d8; d += 8)
            {
                CpuGemm.Transpose8x8(rows + d, stride, tile + d * KeyTile, KeyTile);
            }
            for (int r = 0; r < 8; r++)
            {
                for (int d = d8; d < g.D; d++)
                {
                    tile[d * KeyTile + r] = rows[r * stride + d];
                }
            }
        }
        float* rotated = stackalloc float[AttentionMaxHeadDim];
        for (int j = j8; j < g.T; j++)
        {
            float* tile = dst + (long)(j / KeyTile) * KeyTile * g.Dp + j % KeyTile;
            float* row = src + j * g.InRow;
            if (rope)
            {
                RopeRow(row, rotated, g.Cos + j * g.Half, g.Sin + j * g.Half, g.Half, 1f, accumulate: false);
                row = rotated;
            }
            for (int d = 0; d < g.D; d++)
            {
                tile[d * KeyTile] = row[d];
            }
        }
    }

    /// <summary>Per-thread scratch, grown on demand and reused across calls (pinned, so raw pointers stay valid).</summary>
    private static unsafe float* Scratch(int floats)
    {
        if (t_attentionScratch is null || t_attentionScratch.Length < floats)
        {
            t_attentionScratch = GC.AllocateUninitializedArray<float>(floats, pinned: true);
        }
        return (float*)Unsafe.AsPointer(ref t_attentionScratch[0]);
    }

    private readonly unsafe struct ForwardPointers(float* q, float* k, float* v, float* o, float* lse, int* lengths)
    {
        public readonly float* Q = q, K = k, V = v, O = o, Lse = lse;
        public readonly int* Lengths = lengths;
    }

    /// <summary>
    /// Sizes and layout of one attention call as the CPU kernels see them. Head-major layout: q, k, v, o and their
    /// gradients (B, H, T, D). QKV layout: q, k, v (and dq, dk, dv) read from / written to one (B, T, 3, H, D) buffer
    /// (the QKV projection's output; the callers offset k by H·D and v by 2·H·D), o and dO (B, T, H, D). With a
    /// RoPE table, q and k rows are rotated as they are packed and dq, dk rotated back as they are stored.
    /// </summary>
    private readonly unsafe struct AttentionGeometry
    {
        public readonly int T, D, Heads, Dp, KeyRows, Half;
        public readonly bool Causal;

        /// <summary>Row stride and the offsets of sequence b and head h in q, k, v and their gradients.</summary>
        public readonly long InRow, InBatch, InHead;

        /// <summary>Row stride and the offsets of sequence b and head h in o and dO.</summary>
        public readonly long OutRow, OutBatch, OutHead;

        /// <summary>RoPE cos and sin, each (T, D/2), or null: no rotation.</summary>
        public readonly float* Cos, Sin;

        public AttentionGeometry(AttentionDims dims, bool qkvLayout, RopeTable? rope)
        {
            T = dims.Tokens;
            D = dims.HeadDim;
            Heads = dims.Heads;
            Dp = (D + 15) & ~15;
            KeyRows = (T + KeyTile - 1) / KeyTile * KeyTile;
            Half = D / 2;
            Causal = dims.Causal;
            long hd = (long)Heads * D;
            (InRow, InBatch, InHead) = qkvLayout ? (3 * hd, 3 * hd * T, (long)D) : ((long)D, hd * T, (long)T * D);
            (OutRow, OutBatch, OutHead) = qkvLayout ? (hd, hd * T, (long)D) : ((long)D, hd * T, (long)T * D);
            Cos = rope is null ? null : rope.Cos;
            Sin = rope is null ? null : rope.Sin;
        }

        public long InOffset(int bh) => bh / Heads * InBatch + bh % Heads * InHead;

        public long OutOffset(int bh) => bh / Heads * OutBatch + bh % Heads * OutHead;

        /// <summary>Query t of pair bh may attend to keys j &lt; RowLimit (0 for rows past the end).</summary>
        public unsafe int RowLimit(int* lengths, int bh, int t)
        {
            if (t >= T)
            {
                return 0;
            }
            int limit = Causal ? t + 1 : T;
            return lengths is null ? limit : Math.Min(limit, lengths[bh / Heads]);
        }

        /// <summary>Keys any of the query rows [q0, q0 + rows) may attend to: [0, KeyLimit).</summary>
        public unsafe int KeyLimit(int* lengths, int bh, int q0, int rows) =>
            RowLimit(lengths, bh, Math.Min(q0 + rows, T) - 1);
    }
}
