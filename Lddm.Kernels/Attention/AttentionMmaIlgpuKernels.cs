using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime.Cuda;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// FlashAttention-2-style attention forward on TF32 tensor cores (<c>mma.sync.m16n8k8</c> through
/// <see cref="Mma.MmaTf32"/>, emulated on the simulator), for head dims that are multiples of 8 up to 64. A group of 4
/// warps owns 64 query rows of one (b, h) pair, 16 per warp; keys stream through shared memory in tiles of 32. Per
/// tile each warp computes its 16 × 32 scores S = (scale·Q)·Kᵀ with D/8 × 4 <c>mma</c>, applies the causal and
/// key-padding masks, updates the online softmax on the accumulator fragments (a row's 8 values per lane, max and sum
/// over the lane quad: warp shuffles on CUDA, the warp's shared scratch elsewhere), writes P as TF32 into its own 16 × 32 shared tile, and accumulates
/// O += P·V with 4 × D/8 <c>mma</c> into D/8 register fragments. Q, K, V, P are rounded to TF32 once, on their way into
/// shared memory (rows padded so every fragment load of a warp hits 32 banks). Output o and lse as
/// <see cref="Backend.AttentionForward"/> — the FP32 backward reads them unchanged.
/// </summary>
internal static class AttentionMmaIlgpuKernels
{
    public const int Warps = 4, Threads = 32 * Warps, TileQ = 16 * Warps, TileK = 32, MaxD = 64;

    // Row pitches in words: Q and K rows are read as (row g, column t) fragments → pitch ≡ 4 (mod 32) for D = 32, 64
    // (and 20 for D = 16); V is read as (row t, column g) → pitch ≡ 8 (mod 32); P rows like Q.
    private const int PitchQK = MaxD + 4, PitchV = MaxD + 8, PitchP = TileK + 4;

    /// <summary>True for the head dims this kernel serves: multiples of 8 up to <see cref="MaxD"/>.</summary>
    public static bool Supports(int headDim) => headDim >= 8 && headDim <= MaxD && headDim % 8 == 0;

    /// <summary>o, lse for one (b·h, 64-query tile) group of 128 threads.</summary>
    [GpuKernel(Hot = true)]
    public static void ForwardMma(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> lengths,
        AttentionDims dims, ArrayView<float> o, ArrayView<float> lse)
    {
        var qs = SharedMemory.Allocate<uint>(TileQ * PitchQK);
        var ks = SharedMemory.Allocate<uint>(TileK * PitchQK);
        var vs = SharedMemory.Allocate<uint>(TileK * PitchV);
        var ps = SharedMemory.Allocate<uint>(TileQ * PitchP);
        var scratchAll = SharedMemory.Allocate<float>(Warps * Mma.ScratchPerWarp);
        int tid = Group.IdxX, group = Grid.IdxX;
        int T = dims.Tokens, D = dims.HeadDim, nd = D / 8;
        int tiles = (T + TileQ - 1) / TileQ;
        int bh = group / tiles, q0 = group % tiles * TileQ;
        int bas = bh * T * D;
        int L = dims.Padded ? lengths[bh / dims.Heads] : T;
        int lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
        var scratch = scratchAll.SubView(warp * Mma.ScratchPerWarp, Mma.ScratchPerWarp);
        int wr = warp * 16;
        LoadTf32Rows(q, dims.Scale, qs, PitchQK, q, qs, 0, bas, q0, TileQ, T, D, tid, Threads);
        int row0 = q0 + wr + g, row1 = row0 + 8;
        int lim0 = RowLimit(row0, T, L, dims.Causal), lim1 = RowLimit(row1, T, L, dims.Causal);
        int keys = XMath.Min(dims.Causal ? XMath.Min(q0 + TileQ, T) : T, L);
        float m0 = float.NegativeInfinity, m1 = float.NegativeInfinity, l0 = 0f, l1 = 0f;
        MmaAccumulator o0 = default, o1 = default, o2 = default, o3 = default;
        MmaAccumulator o4 = default, o5 = default, o6 = default, o7 = default;
        for (int k0 = 0; k0 < keys; k0 += TileK)
        {
            // The previous tile's K, V and P reads are done (and on the first pass Q is stored).
            Group.Barrier();
            LoadTf32Rows(k, 1f, ks, PitchQK, v, vs, PitchV, bas, k0, TileK, T, D, tid, Threads);
            Group.Barrier();

            // S (16 × 32) = Q_w (16 × D) · Kᵀ (D × 32): n-tile j covers keys 8j..8j+7.
            var st = RowsTimesRowsT(qs, ks, wr, g, t4, nd, scratch);
            MmaAccumulator s0 = st.T0, s1 = st.T1, s2 = st.T2, s3 = st.T3;

            // Masks: this lane's columns are k0 + 8j + 2·t4 (+1); C0/C1 belong to row0, C2/C3 to row1.
            int c = k0 + 2 * t4;
            s0 = Mask(s0, c, lim0, lim1);
            s1 = Mask(s1, c + 8, lim0, lim1);
            s2 = Mask(s2, c + 16, lim0, lim1);
            s3 = Mask(s3, c + 24, lim0, lim1);
            float mx0 = XMath.Max(XMath.Max(XMath.Max(s0.C0, s0.C1), XMath.Max(s1.C0, s1.C1)),
                XMath.Max(XMath.Max(s2.C0, s2.C1), XMath.Max(s3.C0, s3.C1)));
            float mx1 = XMath.Max(XMath.Max(XMath.Max(s0.C2, s0.C3), XMath.Max(s1.C2, s1.C3)),
                XMath.Max(XMath.Max(s2.C2, s2.C3), XMath.Max(s3.C2, s3.C3)));
            float mNew0 = XMath.Max(m0, QuadMax(mx0, scratch)), mNew1 = XMath.Max(m1, QuadMax(mx1, scratch));
            float alpha0 = Alpha(m0, mNew0), alpha1 = Alpha(m1, mNew1);
            s0 = Probabilities(s0, mNew0, mNew1);
            s1 = Probabilities(s1, mNew0, mNew1);
            s2 = Probabilities(s2, mNew0, mNew1);
            s3 = Probabilities(s3, mNew0, mNew1);
            float sum0 = ((s0.C0 + s0.C1) + (s1.C0 + s1.C1)) + ((s2.C0 + s2.C1) + (s3.C0 + s3.C1));
            float sum1 = ((s0.C2 + s0.C3) + (s1.C2 + s1.C3)) + ((s2.C2 + s2.C3) + (s3.C2 + s3.C3));
            l0 = l0 * alpha0 + QuadSum(sum0, scratch);
            l1 = l1 * alpha1 + QuadSum(sum1, scratch);
            m0 = mNew0;
            m1 = mNew1;
            o0 = Rescale(o0, alpha0, alpha1); o1 = Rescale(o1, alpha0, alpha1);
            o2 = Rescale(o2, alpha0, alpha1); o3 = Rescale(o3, alpha0, alpha1);
            o4 = Rescale(o4, alpha0, alpha1); o5 = Rescale(o5, alpha0, alpha1);
            o6 = Rescale(o6, alpha0, alpha1); o7 = Rescale(o7, alpha0, alpha1);

            // P into the warp's shared tile (the accumulator layout), read back as A fragments.
            int p = (wr + g) * PitchP + 2 * t4;
            StoreP(ps, p, s0);
            StoreP(ps, p + 8, s1);
            StoreP(ps, p + 16, s2);
            StoreP(ps, p + 24, s3);
            Warp.Barrier();

            // O (16 × D) += P (16 × 32) · V (32 × D): n-tile j covers columns 8j..8j+7.
            for (int kk = 0; kk < TileK / 8; kk++)
            {
                int a = (wr + g) * PitchP + kk * 8 + t4;
                var fa = new MmaFragmentA { A0 = ps[a], A1 = ps[a + 8 * PitchP], A2 = ps[a + 4], A3 = ps[a + 8 * PitchP + 4] };
                int b = (kk * 8 + t4) * PitchV + g;
                o0 = Mma.MmaTf32(o0, fa, VFragment(vs, b), scratch);
                if (nd > 1)
                {
                    o1 = Mma.MmaTf32(o1, fa, VFragment(vs, b + 8), scratch);
                }
                if (nd > 2)
                {
                    o2 = Mma.MmaTf32(o2, fa, VFragment(vs, b + 16), scratch);
                }
                if (nd > 3)
                {
                    o3 = Mma.MmaTf32(o3, fa, VFragment(vs, b + 24), scratch);
                }
                if (nd > 4)
                {
                    o4 = Mma.MmaTf32(o4, fa, VFragment(vs, b + 32), scratch);
                }
                if (nd > 5)
                {
                    o5 = Mma.MmaTf32(o5, fa, VFragment(vs, b + 40), scratch);
                }
                if (nd > 6)
                {
                    o6 = Mma.MmaTf32(o6, fa, VFragment(vs, b + 48), scratch);
                }
                if (nd > 7)
                {
                    o7 = Mma.MmaTf32(o7, fa, VFragment(vs, b + 56), scratch);
                }
            }
        }

        float inv0 = l0 > 0f ? 1f / l0 : 0f, inv1 = l1 > 0f ? 1f / l1 : 0f;
        int col = 2 * t4;
        StoreO(o, bas, row0, row1, T, D, col, inv0, inv1, o0);
        if (nd > 1)
        {
            StoreO(o, bas, row0, row1, T, D, col + 8, inv0, inv1, o1);
        }
        if (nd > 2)
        {
            StoreO(o, bas, row0, row1, T, D, col + 16, inv0, inv1, o2);
        }
        if (nd > 3)
        {
            StoreO(o, bas, row0, row1, T, D, col + 24, inv0, inv1, o3);
        }
        if (nd > 4)
        {
            StoreO(o, bas, row0, row1, T, D, col + 32, inv0, inv1, o4);
        }
        if (nd > 5)
        {
            StoreO(o, bas, row0, row1, T, D, col + 40, inv0, inv1, o5);
        }
        if (nd > 6)
        {
            StoreO(o, bas, row0, row1, T, D, col + 48, inv0, inv1, o6);
        }
        if (nd > 7)
        {
            StoreO(o, bas, row0, row1, T, D, col + 56, inv0, inv1, o7);
        }
        if (t4 == 0)
        {
            if (row0 < T)
            {
                lse[bh * T + row0] = l0 > 0f ? m0 + XMath.Log(l0) : float.NegativeInfinity;
            }
            if (row1 < T)
            {
                lse[bh * T + row1] = l1 > 0f ? m1 + XMath.Log(l1) : float.NegativeInfinity;
            }
        }
    }

    /// <summary>Threads of a backward group: 2 warps, each owning 16 keys (dK, dV) or 16 queries (dQ).</summary>
    public const int BwdWarps = 2, BwdThreads = 32 * BwdWarps, BwdTile = 16 * BwdWarps;

    /// <summary>
    /// dk, dv (+=) for one (b·h, 32-key tile) group on tensor cores: per 32-query tile each warp forms its 16 keys'
    /// Sᵀ = K_w·(scale·Q)ᵀ and dPᵀ = V_w·dOᵀ by <c>mma</c>, P = exp(S − lse) and dS = P·(dP − Δ) under the masks, stages
    /// Pᵀ and dSᵀ as TF32 in its own shared tiles, and accumulates dV_w += Pᵀ·dO and dK_w += dSᵀ·(scale·Q) in registers
    /// (each group the only writer of its rows): S, dP, dV, dK once, ~8·T²·D FLOPs. With <paramref name="dsPair0"/> ≥ 0
    /// the grid covers the pairs dsPair0.. of one chunk, and each warp also copies its staged 16 × 32 block of dSᵀ
    /// (TF32 bits, as the mma read them) to <paramref name="ds"/>, laid out [pair − dsPair0][key][query] with a pitch of
    /// Tp = T rounded up to 32 (ragged rows and columns hold zeros); <see cref="BackwardQueryFromDsMma"/> then forms
    /// dQ = scale·dS·K from it (~2·T²·D, ~10·T²·D in all). dsPair0 = −1 writes nothing (the grid covers every pair) and
    /// <see cref="BackwardQueryMma"/> recomputes S, dP and dS for dQ instead (~14·T²·D in all).
    /// Blocks a group never visits (causal: queries before its key tile; padding: key tiles past the length) are not
    /// written: they are exactly the blocks the dQ kernel skips.
    /// </summary>
    [GpuKernel(Hot = true)]
    public static void BackwardKeyValueMma(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<int> lengths, AttentionDims dims,
        ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> ds, int dsPair0)
    {
        var ks = SharedMemory.Allocate<uint>(BwdTile * PitchQK);
        var vs = SharedMemory.Allocate<uint>(BwdTile * PitchQK);
        var qs = SharedMemory.Allocate<uint>(TileK * PitchQK);
        var dos = SharedMemory.Allocate<uint>(TileK * PitchQK);
        var pts = SharedMemory.Allocate<uint>(BwdTile * PitchP);
        var dsts = SharedMemory.Allocate<uint>(BwdTile * PitchP);
        var rowTerms = SharedMemory.Allocate<float>(2 * TileK);
        var scratchAll = SharedMemory.Allocate<float>(BwdWarps * Mma.ScratchPerWarp);
        int tid = Group.IdxX, group = Grid.IdxX;
        int T = dims.Tokens, D = dims.HeadDim, nd = D / 8;
        int tiles = (T + BwdTile - 1) / BwdTile, tp = tiles * BwdTile;
        int bh = XMath.Max(dsPair0, 0) + group / tiles, k0 = group % tiles * BwdTile;
        int bas = bh * T * D;
        int L = dims.Padded ? lengths[bh / dims.Heads] : T;
        int lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
        var scratch = scratchAll.SubView(warp * Mma.ScratchPerWarp, Mma.ScratchPerWarp);
        int wr = warp * 16, key0 = k0 + wr + g, key1 = key0 + 8;
        LoadTf32Rows(k, 1f, ks, PitchQK, v, vs, PitchQK, bas, k0, BwdTile, T, D, tid, BwdThreads);
        MmaAccumulator dk0 = default, dk1 = default, dk2 = default, dk3 = default;
        MmaAccumulator dk4 = default, dk5 = default, dk6 = default, dk7 = default;
        MmaAccumulator dv0 = default, dv1 = default, dv2 = default, dv3 = default;
        MmaAccumulator dv4 = default, dv5 = default, dv6 = default, dv7 = default;
        // Causal: only queries t ≥ k0 see this tile; a tile past the valid length is seen by none.
        int qStart = k0 >= L ? T : (dims.Causal ? k0 / TileK * TileK : 0);
        for (int q0 = qStart; q0 < T; q0 += TileK)
        {
            Group.Barrier();
            LoadTf32Rows(q, dims.Scale, qs, PitchQK, dO, dos, PitchQK, bas, q0, TileK, T, D, tid, BwdThreads);
            for (int i = tid; i < TileK; i += BwdThreads)
            {
                bool inside = q0 + i < T;
                rowTerms[i] = inside ? lse[bh * T + q0 + i] : 0f;
                rowTerms[TileK + i] = inside ? delta[bh * T + q0 + i] : 0f;
            }
            Group.Barrier();
            // Sᵀ and dPᵀ (16 keys × 32 queries): n-tile j covers queries 8j..8j+7.
            var st = RowsTimesRowsT(ks, qs, wr, g, t4, nd, scratch);
            var pt = RowsTimesRowsT(vs, dos, wr, g, t4, nd, scratch);
            MmaAccumulator s0 = st.T0, s1 = st.T1, s2 = st.T2, s3 = st.T3, p0 = pt.T0, p1 = pt.T1, p2 = pt.T2, p3 = pt.T3;
            int o = (wr + g) * PitchP + 2 * t4, c = 2 * t4;
            KeyTerms(s0, p0, q0 + c, key0, key1, T, L, dims.Causal, rowTerms, c, pts, dsts, o);
            KeyTerms(s1, p1, q0 + c + 8, key0, key1, T, L, dims.Causal, rowTerms, c + 8, pts, dsts, o + 8);
            KeyTerms(s2, p2, q0 + c + 16, key0, key1, T, L, dims.Causal, rowTerms, c + 16, pts, dsts, o + 16);
            KeyTerms(s3, p3, q0 + c + 24, key0, key1, T, L, dims.Causal, rowTerms, c + 24, pts, dsts, o + 24);
            Warp.Barrier();
            if (dsPair0 >= 0)
            {
                // The warp's 16 key rows of dSᵀ, one 128-byte row per store: lane = query q0 + lane.
                int dst = ((bh - dsPair0) * tp + k0 + wr) * tp + q0 + lane, src = wr * PitchP + lane;
                for (int r = 0; r < 16; r++)
                {
                    ds[dst + r * tp] = Interop.IntAsFloat(dsts[src + r * PitchP]);
                }
            }
            // dV_w += Pᵀ·dO and dK_w += dSᵀ·(scale·Q): k-steps over the 32 queries, n-tile j over columns 8j..8j+7.
            for (int kk = 0; kk < TileK / 8; kk++)
            {
                int a = (wr + g) * PitchP + kk * 8 + t4, b = (kk * 8 + t4) * PitchQK + g;
                var fp = RowFragment(pts, a, PitchP);
                var fs = RowFragment(dsts, a, PitchP);
                dv0 = Mma.MmaTf32(dv0, fp, DownFragment(dos, b), scratch);
                dk0 = Mma.MmaTf32(dk0, fs, DownFragment(qs, b), scratch);
                if (nd > 1) { dv1 = Mma.MmaTf32(dv1, fp, DownFragment(dos, b + 8), scratch); dk1 = Mma.MmaTf32(dk1, fs, DownFragment(qs, b + 8), scratch); }
                if (nd > 2) { dv2 = Mma.MmaTf32(dv2, fp, DownFragment(dos, b + 16), scratch); dk2 = Mma.MmaTf32(dk2, fs, DownFragment(qs, b + 16), scratch); }
                if (nd > 3) { dv3 = Mma.MmaTf32(dv3, fp, DownFragment(dos, b + 24), scratch); dk3 = Mma.MmaTf32(dk3, fs, DownFragment(qs, b + 24), scratch); }
                if (nd > 4) { dv4 = Mma.MmaTf32(dv4, fp, DownFragment(dos, b + 32), scratch); dk4 = Mma.MmaTf32(dk4, fs, DownFragment(qs, b + 32), scratch); }
                if (nd > 5) { dv5 = Mma.MmaTf32(dv5, fp, DownFragment(dos, b + 40), scratch); dk5 = Mma.MmaTf32(dk5, fs, DownFragment(qs, b + 40), scratch); }
                if (nd > 6) { dv6 = Mma.MmaTf32(dv6, fp, DownFragment(dos, b + 48), scratch); dk6 = Mma.MmaTf32(dk6, fs, DownFragment(qs, b + 48), scratch); }
                if (nd > 7) { dv7 = Mma.MmaTf32(dv7, fp, DownFragment(dos, b + 56), scratch); dk7 = Mma.MmaTf32(dk7, fs, DownFragment(qs, b + 56), scratch); }
            }
        }
        int col = 2 * t4;
        AddRows(dk, dv, bas, key0, key1, T, D, col, dk0, dv0);
        if (nd > 1) { AddRows(dk, dv, bas, key0, key1, T, D, col + 8, dk1, dv1); }
        if (nd > 2) { AddRows(dk, dv, bas, key0, key1, T, D, col + 16, dk2, dv2); }
        if (nd > 3) { AddRows(dk, dv, bas, key0, key1, T, D, col + 24, dk3, dv3); }
        if (nd > 4) { AddRows(dk, dv, bas, key0, key1, T, D, col + 32, dk4, dv4); }
        if (nd > 5) { AddRows(dk, dv, bas, key0, key1, T, D, col + 40, dk5, dv5); }
        if (nd > 6) { AddRows(dk, dv, bas, key0, key1, T, D, col + 48, dk6, dv6); }
        if (nd > 7) { AddRows(dk, dv, bas, key0, key1, T, D, col + 56, dk7, dv7); }
    }

    /// <summary>Row pitch (words) of the dSᵀ tile in <see cref="BackwardQueryFromDsMma"/>: read as (row t, column g) A fragments.</summary>
    private const int PitchDsT = BwdTile + 8;

    /// <summary>
    /// dq (+=) for one (b·h, 32-query tile) group from the dSᵀ that <see cref="BackwardKeyValueMma"/> wrote to
    /// <paramref name="ds"/> for the chunk of pairs starting at <paramref name="pair0"/>: per 32-key tile the group
    /// loads K (TF32) and the 32 × 32 block of dSᵀ into shared memory, and each warp accumulates dQ_w += dS·K with
    /// 4 × D/8 <c>mma</c> (dS is read transposed as A fragments); scaled once at the end. The key tiles visited are
    /// those the forward's query rows may attend to (causal, key padding), i.e. exactly the blocks written. Each dq
    /// element is added by one thread, once, after a fixed-order sum: deterministic without atomics.
    /// </summary>
    [GpuKernel(Hot = true)]
    public static void BackwardQueryFromDsMma(ArrayView<float> k, ArrayView<float> ds, ArrayView<int> lengths,
        AttentionDims dims, int pair0, ArrayView<float> dq)
    {
        var ks = SharedMemory.Allocate<uint>(TileK * PitchV);
        var dsts = SharedMemory.Allocate<uint>(TileK * PitchDsT);
        var scratchAll = SharedMemory.Allocate<float>(BwdWarps * Mma.ScratchPerWarp);
        int tid = Group.IdxX, group = Grid.IdxX;
        int T = dims.Tokens, D = dims.HeadDim, nd = D / 8;
        int tiles = (T + BwdTile - 1) / BwdTile, tp = tiles * BwdTile;
        int bh = pair0 + group / tiles, q0 = group % tiles * BwdTile;
        int bas = bh * T * D, slice = (bh - pair0) * tp * tp + q0;
        int L = dims.Padded ? lengths[bh / dims.Heads] : T;
        int lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
        var scratch = scratchAll.SubView(warp * Mma.ScratchPerWarp, Mma.ScratchPerWarp);
        int wr = warp * 16, row0 = q0 + wr + g, row1 = row0 + 8;
        MmaAccumulator dq0 = default, dq1 = default, dq2 = default, dq3 = default;
        MmaAccumulator dq4 = default, dq5 = default, dq6 = default, dq7 = default;
        int keys = XMath.Min(dims.Causal ? XMath.Min(q0 + BwdTile, T) : T, L);
        for (int k0 = 0; k0 < keys; k0 += TileK)
        {
            Group.Barrier();
            LoadTf32Rows(k, 1f, ks, PitchV, k, ks, 0, bas, k0, TileK, T, D, tid, BwdThreads);
            // dSᵀ rows k0..k0+31 (keys), columns q0..q0+31 (queries): already TF32, copied as bits.
            for (int i = tid; i < TileK * BwdTile; i += BwdThreads)
            {
                int r = i / BwdTile, c = i - r * BwdTile;
                dsts[r * PitchDsT + c] = Interop.FloatAsInt(ds[slice + (k0 + r) * tp + c]);
            }
            Group.Barrier();
            for (int kk = 0; kk < TileK / 8; kk++)
            {
                // A[g, t] = dS[query wr + g, key 8kk + t] = dSᵀ[8kk + t, wr + g]; B[t, g] = K[8kk + t, column g].
                int a = (kk * 8 + t4) * PitchDsT + wr + g, b = (kk * 8 + t4) * PitchV + g;
                int a4 = a + 4 * PitchDsT;
                var fs = new MmaFragmentA { A0 = dsts[a], A1 = dsts[a + 8], A2 = dsts[a4], A3 = dsts[a4 + 8] };
                dq0 = Mma.MmaTf32(dq0, fs, VFragment(ks, b), scratch);
                if (nd > 1) { dq1 = Mma.MmaTf32(dq1, fs, VFragment(ks, b + 8), scratch); }
                if (nd > 2) { dq2 = Mma.MmaTf32(dq2, fs, VFragment(ks, b + 16), scratch); }
                if (nd > 3) { dq3 = Mma.MmaTf32(dq3, fs, VFragment(ks, b + 24), scratch); }
                if (nd > 4) { dq4 = Mma.MmaTf32(dq4, fs, VFragment(ks, b + 32), scratch); }
                if (nd > 5) { dq5 = Mma.MmaTf32(dq5, fs, VFragment(ks, b + 40), scratch); }
                if (nd > 6) { dq6 = Mma.MmaTf32(dq6, fs, VFragment(ks, b + 48), scratch); }
                if (nd > 7) { dq7 = Mma.MmaTf32(dq7, fs, VFragment(ks, b + 56), scratch); }
            }
        }
        AddDq(dq, bas, row0, row1, T, D, 2 * t4, dims.Scale, nd, dq0, dq1, dq2, dq3, dq4, dq5, dq6, dq7);
    }

    /// <summary>Floats of dSᵀ scratch one (b, h) pair needs in <see cref="BackwardKeyValueMma"/>: Tp² with Tp = T rounded up to 32.</summary>
    public static long DsScratchFloatsPerPair(int tokens)
    {
        long tp = (tokens + BwdTile - 1) / BwdTile * (long)BwdTile;
        return tp * tp;
    }

    /// <summary>
    /// The fallback dQ, for a (b, h) slice whose dSᵀ does not fit the scratch budget: dq (+=) for one (b·h, 32-query
    /// tile) group on tensor cores: per 32-key tile each warp forms S = (scale·Q_w)·Kᵀ and dP = dO_w·Vᵀ by <c>mma</c>
    /// again, dS = P·(dP − Δ) under the masks, stages dS as TF32, and accumulates dQ_w += dS·K; scaled once at the end
    /// (~6·T²·D, so ~14·T²·D with <see cref="BackwardKeyValueMma"/>).
    /// </summary>
    [GpuKernel(Hot = true)]
    public static void BackwardQueryMma(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<int> lengths, AttentionDims dims,
        ArrayView<float> dq)
    {
        var qs = SharedMemory.Allocate<uint>(BwdTile * PitchQK);
        var dos = SharedMemory.Allocate<uint>(BwdTile * PitchQK);
        var ks = SharedMemory.Allocate<uint>(TileK * PitchQK);
        var vs = SharedMemory.Allocate<uint>(TileK * PitchQK);
        var dss = SharedMemory.Allocate<uint>(BwdTile * PitchP);
        var scratchAll = SharedMemory.Allocate<float>(BwdWarps * Mma.ScratchPerWarp);
        int tid = Group.IdxX, group = Grid.IdxX;
        int T = dims.Tokens, D = dims.HeadDim, nd = D / 8;
        int tiles = (T + BwdTile - 1) / BwdTile;
        int bh = group / tiles, q0 = group % tiles * BwdTile;
        int bas = bh * T * D;
        int L = dims.Padded ? lengths[bh / dims.Heads] : T;
        int lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
        var scratch = scratchAll.SubView(warp * Mma.ScratchPerWarp, Mma.ScratchPerWarp);
        int wr = warp * 16, row0 = q0 + wr + g, row1 = row0 + 8;
        LoadTf32Rows(q, dims.Scale, qs, PitchQK, dO, dos, PitchQK, bas, q0, BwdTile, T, D, tid, BwdThreads);
        int lim0 = RowLimit(row0, T, L, dims.Causal), lim1 = RowLimit(row1, T, L, dims.Causal);
        float lse0 = row0 < T ? lse[bh * T + row0] : 0f, lse1 = row1 < T ? lse[bh * T + row1] : 0f;
        float delta0 = row0 < T ? delta[bh * T + row0] : 0f, delta1 = row1 < T ? delta[bh * T + row1] : 0f;
        MmaAccumulator dq0 = default, dq1 = default, dq2 = default, dq3 = default;
        MmaAccumulator dq4 = default, dq5 = default, dq6 = default, dq7 = default;
        int keys = XMath.Min(dims.Causal ? XMath.Min(q0 + BwdTile, T) : T, L);
        for (int k0 = 0; k0 < keys; k0 += TileK)
        {
            Group.Barrier();
            LoadTf32Rows(k, 1f, ks, PitchQK, v, vs, PitchQK, bas, k0, TileK, T, D, tid, BwdThreads);
            Group.Barrier();
            var st = RowsTimesRowsT(qs, ks, wr, g, t4, nd, scratch);
            var pt = RowsTimesRowsT(dos, vs, wr, g, t4, nd, scratch);
            MmaAccumulator s0 = st.T0, s1 = st.T1, s2 = st.T2, s3 = st.T3, p0 = pt.T0, p1 = pt.T1, p2 = pt.T2, p3 = pt.T3;
            int o = (wr + g) * PitchP + 2 * t4, c = k0 + 2 * t4;
            StoreP(dss, o, QueryTerms(s0, p0, c, lim0, lim1, lse0, lse1, delta0, delta1));
            StoreP(dss, o + 8, QueryTerms(s1, p1, c + 8, lim0, lim1, lse0, lse1, delta0, delta1));
            StoreP(dss, o + 16, QueryTerms(s2, p2, c + 16, lim0, lim1, lse0, lse1, delta0, delta1));
            StoreP(dss, o + 24, QueryTerms(s3, p3, c + 24, lim0, lim1, lse0, lse1, delta0, delta1));
            Warp.Barrier();
            for (int kk = 0; kk < TileK / 8; kk++)
            {
                int a = (wr + g) * PitchP + kk * 8 + t4, b = (kk * 8 + t4) * PitchQK + g;
                var fs = RowFragment(dss, a, PitchP);
                dq0 = Mma.MmaTf32(dq0, fs, DownFragment(ks, b), scratch);
                if (nd > 1) { dq1 = Mma.MmaTf32(dq1, fs, DownFragment(ks, b + 8), scratch); }
                if (nd > 2) { dq2 = Mma.MmaTf32(dq2, fs, DownFragment(ks, b + 16), scratch); }
                if (nd > 3) { dq3 = Mma.MmaTf32(dq3, fs, DownFragment(ks, b + 24), scratch); }
                if (nd > 4) { dq4 = Mma.MmaTf32(dq4, fs, DownFragment(ks, b + 32), scratch); }
                if (nd > 5) { dq5 = Mma.MmaTf32(dq5, fs, DownFragment(ks, b + 40), scratch); }
                if (nd > 6) { dq6 = Mma.MmaTf32(dq6, fs, DownFragment(ks, b + 48), scratch); }
                if (nd > 7) { dq7 = Mma.MmaTf32(dq7, fs, DownFragment(ks, b + 56), scratch); }
            }
        }
        AddDq(dq, bas, row0, row1, T, D, 2 * t4, dims.Scale, nd, dq0, dq1, dq2, dq3, dq4, dq5, dq6, dq7);
    }

    /// <summary>
    /// One warp's 16 × 32 product A_w·Bᵀ: rows wr..wr+15 of <paramref name="a"/> (16 × D) times the first 32 rows of
    /// <paramref name="b"/> (32 × D), both row-major in shared memory with <see cref="PitchQK"/>, by D/8 × 4 <c>mma</c>;
    /// n-tile j covers b's rows 8j..8j+7. The scores (Q·Kᵀ, K·Qᵀ) and their backward twins (dO·Vᵀ, V·dOᵀ) all take
    /// this shape.
    /// </summary>
    private static WarpTile32 RowsTimesRowsT(ArrayView<uint> a, ArrayView<uint> b, int wr, int g, int t4, int nd,
        ArrayView<float> scratch)
    {
        var r = default(WarpTile32);
        for (int kk = 0; kk < nd; kk++)
        {
            var fa = RowFragment(a, (wr + g) * PitchQK + kk * 8 + t4);
            int bi = g * PitchQK + kk * 8 + t4;
            r.T0 = Mma.MmaTf32(r.T0, fa, ColumnFragment(b, bi), scratch);
            r.T1 = Mma.MmaTf32(r.T1, fa, ColumnFragment(b, bi + 8 * PitchQK), scratch);
            r.T2 = Mma.MmaTf32(r.T2, fa, ColumnFragment(b, bi + 16 * PitchQK), scratch);
            r.T3 = Mma.MmaTf32(r.T3, fa, ColumnFragment(b, bi + 24 * PitchQK), scratch);
        }
        return r;
    }

    /// <summary>The A fragment of the 16 × 8 tile whose element (g, t) is at shared[a] (rows <paramref name="pitch"/> apart).</summary>
    private static MmaFragmentA RowFragment(ArrayView<uint> shared, int a, int pitch = PitchQK) =>
        new() { A0 = shared[a], A1 = shared[a + 8 * pitch], A2 = shared[a + 4], A3 = shared[a + 8 * pitch + 4] };

    /// <summary>The B fragment B[t, g] = M[g, t] of a row-major M (rows n, columns k) at shared[b] = M[g, t].</summary>
    private static MmaFragmentB ColumnFragment(ArrayView<uint> shared, int b) => new() { B0 = shared[b], B1 = shared[b + 4] };

    /// <summary>The B fragment B[t, g] = M[t, g] of a row-major M (rows k, columns n) at shared[b] = M[t, g].</summary>
    private static MmaFragmentB DownFragment(ArrayView<uint> shared, int b) =>
        new() { B0 = shared[b], B1 = shared[b + 4 * PitchQK] };

    /// <summary>
    /// One n-tile of the key-major backward: Pᵀ and dSᵀ at keys (key0: C0/C1, key1: C2/C3) and queries (query,
    /// query + 1), masked as the forward masks query rows, staged as TF32 at pts/dsts[o] (and the row 8 below).
    /// </summary>
    private static void KeyTerms(MmaAccumulator s, MmaAccumulator dp, int query, int key0, int key1, int T, int L,
        bool causal, ArrayView<float> rowTerms, int c, ArrayView<uint> pts, ArrayView<uint> dsts, int o)
    {
        int limA = RowLimit(query, T, L, causal), limB = RowLimit(query + 1, T, L, causal);
        float lseA = rowTerms[c], lseB = rowTerms[c + 1], deltaA = rowTerms[TileK + c], deltaB = rowTerms[TileK + c + 1];
        float pa0 = key0 < limA ? XMath.Exp(s.C0 - lseA) : 0f, pb0 = key0 < limB ? XMath.Exp(s.C1 - lseB) : 0f;
        float pa1 = key1 < limA ? XMath.Exp(s.C2 - lseA) : 0f, pb1 = key1 < limB ? XMath.Exp(s.C3 - lseB) : 0f;
        var p = new MmaAccumulator { C0 = pa0, C1 = pb0, C2 = pa1, C3 = pb1 };
        var ds = new MmaAccumulator
        {
            C0 = pa0 * (dp.C0 - deltaA),
            C1 = pb0 * (dp.C1 - deltaB),
            C2 = pa1 * (dp.C2 - deltaA),
            C3 = pb1 * (dp.C3 - deltaB),
        };
        StoreP(pts, o, p);
        StoreP(dsts, o, ds);
    }

    /// <summary>dS of one n-tile of the query-major backward: rows row0 (C0/C1) and row1 (C2/C3), keys col, col+1.</summary>
    private static MmaAccumulator QueryTerms(MmaAccumulator s, MmaAccumulator dp, int col, int lim0, int lim1, float lse0,
        float lse1, float delta0, float delta1) => new()
        {
            C0 = col < lim0 ? XMath.Exp(s.C0 - lse0) * (dp.C0 - delta0) : 0f,
            C1 = col + 1 < lim0 ? XMath.Exp(s.C1 - lse0) * (dp.C1 - delta0) : 0f,
            C2 = col < lim1 ? XMath.Exp(s.C2 - lse1) * (dp.C2 - delta1) : 0f,
            C3 = col + 1 < lim1 ? XMath.Exp(s.C3 - lse1) * (dp.C3 - delta1) : 0f,
        };

    private static void AddRows(ArrayView<float> dk, ArrayView<float> dv, int bas, int key0, int key1, int T, int D, int col,
        MmaAccumulator k, MmaAccumulator v)
    {
        AddRows(dk, bas, key0, key1, T, D, col, 1f, k);
        AddRows(dv, bas, key0, key1, T, D, col, 1f, v);
    }

    /// <summary>dst[row0/row1, col..col+1] += scale·acc (rows past T skipped).</summary>
    /// <summary>A warp's dQ rows row0/row1 += scale · its nd accumulator fragments (8 columns each from <paramref name="col"/>).</summary>
    private static void AddDq(ArrayView<float> dq, int bas, int row0, int row1, int T, int D, int col, float sc, int nd,
        MmaAccumulator dq0, MmaAccumulator dq1, MmaAccumulator dq2, MmaAccumulator dq3, MmaAccumulator dq4,
        MmaAccumulator dq5, MmaAccumulator dq6, MmaAccumulator dq7)
    {
        AddRows(dq, bas, row0, row1, T, D, col, sc, dq0);
        if (nd > 1) { AddRows(dq, bas, row0, row1, T, D, col + 8, sc, dq1); }
        if (nd > 2) { AddRows(dq, bas, row0, row1, T, D, col + 16, sc, dq2); }
        if (nd > 3) { AddRows(dq, bas, row0, row1, T, D, col + 24, sc, dq3); }
        if (nd > 4) { AddRows(dq, bas, row0, row1, T, D, col + 32, sc, dq4); }
        if (nd > 5) { AddRows(dq, bas, row0, row1, T, D, col + 40, sc, dq5); }
        if (nd > 6) { AddRows(dq, bas, row0, row1, T, D, col + 48, sc, dq6); }
        if (nd > 7) { AddRows(dq, bas, row0, row1, T, D, col + 56, sc, dq7); }
    }

    private static void AddRows(ArrayView<float> dst, int bas, int row0, int row1, int T, int D, int col, float scale,
        MmaAccumulator acc)
    {
        if (row0 < T)
        {
            dst[bas + row0 * D + col] += acc.C0 * scale;
            dst[bas + row0 * D + col + 1] += acc.C1 * scale;
        }
        if (row1 < T)
        {
            dst[bas + row1 * D + col] += acc.C2 * scale;
            dst[bas + row1 * D + col + 1] += acc.C3 * scale;
        }
    }

    /// <summary>
    /// Rows row0..row0+rows of two (T × D) head slices at <paramref name="bas"/> into shared tiles as TF32, zeros past
    /// the last token: a[r, d]·scaleA at sa[r·pitchA + d] and b[r, d] at sb[r·pitchB + d]. A pitch of 0 for b skips it
    /// (one tensor only). Every tile load of the three kernels (Q; K, V; Q, dO) goes through here.
    /// </summary>
    private static void LoadTf32Rows(ArrayView<float> a, float scaleA, ArrayView<uint> sa, int pitchA, ArrayView<float> b,
        ArrayView<uint> sb, int pitchB, int bas, int row0, int rows, int T, int D, int tid, int threads)
    {
        for (int i = tid; i < rows * D; i += threads)
        {
            int rr = i / D, dd = i - rr * D;
            bool inside = row0 + rr < T;
            int src = bas + (row0 + rr) * D + dd;
            sa[rr * pitchA + dd] = Mma.ToTf32(inside ? a[src] * scaleA : 0f);
            if (pitchB > 0)
            {
                sb[rr * pitchB + dd] = Mma.ToTf32(inside ? b[src] : 0f);
            }
        }
    }

    /// <summary>Keys j &lt; RowLimit that query t may attend to (0 for rows past the end).</summary>
    private static int RowLimit(int t, int T, int L, bool causal) => t < T ? XMath.Min(causal ? t + 1 : T, L) : 0;

    /// <summary>Scores at columns col, col+1 kept where allowed for their row (row0: C0, C1; row1: C2, C3), else −∞.</summary>
    private static MmaAccumulator Mask(MmaAccumulator s, int col, int lim0, int lim1)
    {
        float ninf = float.NegativeInfinity;
        return new MmaAccumulator
        {
            C0 = col < lim0 ? s.C0 : ninf,
            C1 = col + 1 < lim0 ? s.C1 : ninf,
            C2 = col < lim1 ? s.C2 : ninf,
            C3 = col + 1 < lim1 ? s.C3 : ninf,
        };
    }

    /// <summary>exp(s − m) per row, 0 for masked scores.</summary>
    private static MmaAccumulator Probabilities(MmaAccumulator s, float mRow0, float mRow1) => new()
    {
        C0 = Prob(s.C0, mRow0),
        C1 = Prob(s.C1, mRow0),
        C2 = Prob(s.C2, mRow1),
        C3 = Prob(s.C3, mRow1),
    };

    private static float Prob(float s, float m) => s > float.NegativeInfinity ? XMath.Exp(s - m) : 0f;

    /// <summary>The rescale of a row's running output when its max moves from m to mNew (as the FP32 kernel).</summary>
    private static float Alpha(float m, float mNew)
    {
        bool any = mNew > float.NegativeInfinity;
        return any && m > float.NegativeInfinity ? XMath.Exp(m - mNew) : (any ? 0f : 1f);
    }

    private static MmaAccumulator Rescale(MmaAccumulator o, float alpha0, float alpha1) => new()
    {
        C0 = o.C0 * alpha0,
        C1 = o.C1 * alpha0,
        C2 = o.C2 * alpha1,
        C3 = o.C3 * alpha1,
    };

    /// <summary>
    /// The max over the lane quad (lanes 4g..4g+3), the same in every lane of it: warp shuffles on CUDA; on every other
    /// accelerator (which never takes the tensor-core path outside tests) through the warp's scratch, so the kernel
    /// needs no shuffles there and OpenCL C can be generated for it.
    /// </summary>
    private static float QuadMax(float v, ArrayView<float> scratch)
    {
        if (CudaAsm.IsSupported)
        {
            v = XMath.Max(v, ShuffleXor1(v));
            return XMath.Max(v, ShuffleXor2(v));
        }
        int q = Publish(v, scratch);
        float r = XMath.Max(XMath.Max(scratch[q], scratch[q + 1]), XMath.Max(scratch[q + 2], scratch[q + 3]));
        Warp.Barrier();
        return r;
    }

    /// <summary>The sum over the lane quad, (v₀ + v₁) + (v₂ + v₃) in every lane: the xor-1-then-xor-2 butterfly's bits.</summary>
    private static float QuadSum(float v, ArrayView<float> scratch)
    {
        if (CudaAsm.IsSupported)
        {
            v += ShuffleXor1(v);
            return v + ShuffleXor2(v);
        }
        int q = Publish(v, scratch);
        float r = (scratch[q] + scratch[q + 1]) + (scratch[q + 2] + scratch[q + 3]);
        Warp.Barrier();
        return r;
    }

    /// <summary>
    /// <c>shfl.sync.bfly</c> with lane mask 1 (2 below) as inline PTX: ILGPU's own warp-shuffle intrinsic cannot appear
    /// in a kernel the generic OpenCL backend compiles, not even in a branch it drops; inline PTX can (CUDA only).
    /// </summary>
    private static float ShuffleXor1(float v)
    {
        Output<float> r = default;
        Input<float> x = v;
        CudaAsm.EmitRef("shfl.sync.bfly.b32 %0, %1, 1, 31, -1;", ref r, ref x);
        return r.Value;
    }

    private static float ShuffleXor2(float v)
    {
        Output<float> r = default;
        Input<float> x = v;
        CudaAsm.EmitRef("shfl.sync.bfly.b32 %0, %1, 2, 31, -1;", ref r, ref x);
        return r.Value;
    }

    /// <summary>Writes this lane's value to the warp scratch and returns its quad's first slot, after a warp barrier.</summary>
    private static int Publish(float v, ArrayView<float> scratch)
    {
        int lane = Warp.LaneIdx;
        scratch[lane] = v;
        Warp.Barrier();
        return lane & ~3;
    }

    /// <summary>A lane's 2 × 2 of P (rows g, g+8; columns c, c+1) as TF32 at shared[i] (row g) and the row below.</summary>
    private static void StoreP(ArrayView<uint> ps, int i, MmaAccumulator p)
    {
        ps[i] = Mma.ToTf32(p.C0);
        ps[i + 1] = Mma.ToTf32(p.C1);
        ps[i + 8 * PitchP] = Mma.ToTf32(p.C2);
        ps[i + 8 * PitchP + 1] = Mma.ToTf32(p.C3);
    }

    /// <summary>The B fragment of V for keys (t, t+4) of the k-step and column g of the n-tile, at vs[b].</summary>
    private static MmaFragmentB VFragment(ArrayView<uint> vs, int b) => new() { B0 = vs[b], B1 = vs[b + 4 * PitchV] };

    private static void StoreO(ArrayView<float> o, int bas, int row0, int row1, int T, int D, int col, float inv0, float inv1,
        MmaAccumulator acc)
    {
        if (row0 < T)
        {
            o[bas + row0 * D + col] = acc.C0 * inv0;
            o[bas + row0 * D + col + 1] = acc.C1 * inv0;
        }
        if (row1 < T)
        {
            o[bas + row1 * D + col] = acc.C2 * inv1;
            o[bas + row1 * D + col + 1] = acc.C3 * inv1;
        }
    }
}

/// <summary>A warp's 16 × 32 accumulator tile as four m16n8 fragments (n-tile j: columns 8j..8j+7).</summary>
public struct WarpTile32
{
    public MmaAccumulator T0, T1, T2, T3;
}
