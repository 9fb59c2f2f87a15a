using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// Fused attention on ILGPU, explicitly grouped, 64 threads per group. Shared-memory tiles are sized for the largest
/// head dim (128) and indexed with the actual D, so one kernel serves every D without per-thread arrays (no spills).
/// Forward: a group per (b·h, 16-query tile); K then V tiles of 32 keys pass through one shared buffer; each query
/// row is owned by 4 adjacent lanes (warp shuffles reduce its max and sum; in the <c>NoShuffle</c> twin for OpenCL,
/// two 64-float shared arrays and a barrier each) that also own its output columns d ≡ lane (mod 4), kept in shared
/// memory. Backward: the deterministic FlashAttention-2 pair, dK/dV per key tile and dQ per
/// query tile, each group the only writer of its rows.
/// </summary>
internal static class AttentionIlgpuKernels
{
    public const int Threads = 64;
    public const int MaxD = 128;
    public const int FwdQ = 16, FwdK = 32;
    public const int BwdQ = 8, BwdK = 16;

    /// <summary>o, lse for one (b·h, query tile) group; see <see cref="Backend.AttentionForward"/>.</summary>
    [GpuKernel(Hot = true, WarpShuffles = true)]
    public static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> lengths,
        AttentionDims dims, ArrayView<float> o, ArrayView<float> lse) =>
        Forward(q, k, v, lengths, dims, o, lse, new ShuffleQuadReduce());

    /// <summary>The forward kernel above without warp shuffles (OpenCL).</summary>
    [GpuKernel(Hot = true)]
    public static void ForwardNoShuffle(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> lengths,
        AttentionDims dims, ArrayView<float> o, ArrayView<float> lse) =>
        Forward(q, k, v, lengths, dims, o, lse,
            new SharedQuadReduce(SharedMemory.Allocate<float>(Threads), SharedMemory.Allocate<float>(Threads)));

    private static void Forward<TQuad>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> lengths,
        AttentionDims dims, ArrayView<float> o, ArrayView<float> lse, TQuad quad)
        where TQuad : struct, IQuadReduce
    {
        var qs = SharedMemory.Allocate<float>(FwdQ * MaxD);
        var kv = SharedMemory.Allocate<float>(FwdK * MaxD);
        var ss = SharedMemory.Allocate<float>(FwdQ * FwdK);
        var os = SharedMemory.Allocate<float>(FwdQ * MaxD);
        int tid = Group.IdxX, group = Grid.IdxX;
        int T = dims.Tokens, D = dims.HeadDim;
        int tiles = (T + FwdQ - 1) / FwdQ;
        int bh = group / tiles, q0 = group % tiles * FwdQ;
        int bas = bh * T * D;
        int L = dims.Padded ? lengths[bh / dims.Heads] : T;
        for (int i = tid; i < FwdQ * D; i += Threads)
        {
            int rr = i / D;
            qs[i] = q0 + rr < T ? q[bas + q0 * D + i] * dims.Scale : 0f;
            os[i] = 0f;
        }
        // os is zeroed in one thread pattern and owned in another (row r, columns ≡ lane): make the zeros visible
        // even when the key loop below never runs (a fully masked tile).
        Group.Barrier();
        int r = tid >> 2, lane = tid & 3, t = q0 + r;
        int rowLimit = t < T ? XMath.Min(dims.Causal ? t + 1 : T, L) : 0;
        int keys = XMath.Min(dims.Causal ? XMath.Min(q0 + FwdQ, T) : T, L);
        float m = float.NegativeInfinity, l = 0f;
        for (int k0 = 0; k0 < keys; k0 += FwdK)
        {
            Group.Barrier();
            LoadRows(k, bas, k0, T, D, FwdK, 1f, kv, tid);
            Group.Barrier();
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
            for (int d = 0; d < D; d++)
            {
                float x = qs[r * D + d];
                int c = lane * D + d;
                s0 += x * kv[c]; s1 += x * kv[c + 4 * D]; s2 += x * kv[c + 8 * D]; s3 += x * kv[c + 12 * D];
                s4 += x * kv[c + 16 * D]; s5 += x * kv[c + 20 * D]; s6 += x * kv[c + 24 * D]; s7 += x * kv[c + 28 * D];
            }
            int lim = rowLimit - k0 - lane; // column lane + 4i is allowed iff 4i < lim
            float ninf = float.NegativeInfinity;
            s0 = 0 < lim ? s0 : ninf; s1 = 4 < lim ? s1 : ninf; s2 = 8 < lim ? s2 : ninf; s3 = 12 < lim ? s3 : ninf;
            s4 = 16 < lim ? s4 : ninf; s5 = 20 < lim ? s5 : ninf; s6 = 24 < lim ? s6 : ninf; s7 = 28 < lim ? s7 : ninf;
            float mx = XMath.Max(XMath.Max(XMath.Max(s0, s1), XMath.Max(s2, s3)), XMath.Max(XMath.Max(s4, s5), XMath.Max(s6, s7)));
            mx = quad.Max(mx, tid);
            float mNew = XMath.Max(m, mx);
            bool any = mNew > ninf;
            float alpha = any && m > ninf ? XMath.Exp(m - mNew) : (any ? 0f : 1f);
            s0 = Prob(s0, mNew); s1 = Prob(s1, mNew); s2 = Prob(s2, mNew); s3 = Prob(s3, mNew);
            s4 = Prob(s4, mNew); s5 = Prob(s5, mNew); s6 = Prob(s6, mNew); s7 = Prob(s7, mNew);
            float sum = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
            sum = quad.Sum(sum, tid);
            l = l * alpha + sum;
            m = mNew;
            int srow = r * FwdK + lane;
            ss[srow] = s0; ss[srow + 4] = s1; ss[srow + 8] = s2; ss[srow + 12] = s3;
            ss[srow + 16] = s4; ss[srow + 20] = s5; ss[srow + 24] = s6; ss[srow + 28] = s7;
            Group.Barrier();
            LoadRows(v, bas, k0, T, D, FwdK, 1f, kv, tid);
            Group.Barrier();
            for (int d = lane; d < D; d += 4)
            {
                float acc = os[r * D + d] * alpha;
                for (int j = 0; j < FwdK; j++)
                {
                    acc += ss[r * FwdK + j] * kv[j * D + d];
                }
                os[r * D + d] = acc;
            }
        }
        if (t < T)
        {
            float inv = l > 0f ? 1f / l : 0f;
            for (int d = lane; d < D; d += 4)
            {
                o[bas + t * D + d] = os[r * D + d] * inv;
            }
            if (lane == 0)
            {
                lse[bh * T + t] = l > 0f ? m + XMath.Log(l) : float.NegativeInfinity;
            }
        }
    }

    /// <summary>delta[row] = Σ_d dO[row, d]·o[row, d] (the softmax-backward row term Δ).</summary>
    [GpuKernel]
    public static void Delta(Index1D row, ArrayView<float> o, ArrayView<float> dO, ArrayView<float> delta, int headDim)
    {
        float sum = 0f;
        int bas = row * headDim;
        for (int d = 0; d < headDim; d++)
        {
            sum += dO[bas + d] * o[bas + d];
        }
        delta[row] = sum;
    }

    /// <summary>dk, dv (+=) for one (b·h, 16-key tile) group, looping over the query tiles that can see it.</summary>
    [GpuKernel(Hot = true)]
    public static void BackwardKeyValue(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<int> lengths, AttentionDims dims,
        ArrayView<float> dk, ArrayView<float> dv)
    {
        var ks = SharedMemory.Allocate<float>(BwdK * MaxD);
        var vs = SharedMemory.Allocate<float>(BwdK * MaxD);
        var dks = SharedMemory.Allocate<float>(BwdK * MaxD);
        var dvs = SharedMemory.Allocate<float>(BwdK * MaxD);
        var qs = SharedMemory.Allocate<float>(BwdQ * MaxD);
        var dos = SharedMemory.Allocate<float>(BwdQ * MaxD);
        var ps = SharedMemory.Allocate<float>(BwdQ * BwdK);
        var dss = SharedMemory.Allocate<float>(BwdQ * BwdK);
        int tid = Group.IdxX, group = Grid.IdxX;
        int T = dims.Tokens, D = dims.HeadDim;
        int tiles = (T + BwdK - 1) / BwdK;
        int bh = group / tiles, k0 = group % tiles * BwdK;
        int bas = bh * T * D;
        int L = dims.Padded ? lengths[bh / dims.Heads] : T;
        LoadRows(k, bas, k0, T, D, BwdK, 1f, ks, tid);
        LoadRows(v, bas, k0, T, D, BwdK, 1f, vs, tid);
        for (int i = tid; i < BwdK * D; i += Threads)
        {
            dks[i] = 0f;
            dvs[i] = 0f;
        }
        // Causal: only queries t ≥ k0 see this tile; a tile past the valid length is seen by none.
        int qStart = k0 >= L ? T : (dims.Causal ? k0 / BwdQ * BwdQ : 0);
        for (int q0 = qStart; q0 < T; q0 += BwdQ)
        {
            Group.Barrier();
            LoadRows(q, bas, q0, T, D, BwdQ, dims.Scale, qs, tid);
            LoadRows(dO, bas, q0, T, D, BwdQ, 1f, dos, tid);
            Group.Barrier();
            for (int e = tid; e < BwdQ * BwdK; e += Threads)
            {
                int r = e / BwdK, c = e - r * BwdK, t = q0 + r, j = k0 + c;
                int rowLimit = t < T ? XMath.Min(dims.Causal ? t + 1 : T, L) : 0;
                float p = 0f, ds = 0f;
                if (j < rowLimit)
                {
                    p = XMath.Exp(Dot(qs, r * D, ks, c * D, D) - lse[bh * T + t]);
                    ds = p * (Dot(dos, r * D, vs, c * D, D) - delta[bh * T + t]);
                }
                ps[e] = p;
                dss[e] = ds;
            }
            Group.Barrier();
            for (int i = tid; i < BwdK * D; i += Threads)
            {
                int c = i / D, d = i - c * D;
                float accV = 0f, accK = 0f;
                for (int r = 0; r < BwdQ; r++)
                {
                    accV += ps[r * BwdK + c] * dos[r * D + d];
                    accK += dss[r * BwdK + c] * qs[r * D + d];
                }
                dvs[i] += accV;
                dks[i] += accK;
            }
        }
        for (int i = tid; i < BwdK * D; i += Threads)
        {
            if (k0 + i / D < T)
            {
                dk[bas + k0 * D + i] += dks[i];
                dv[bas + k0 * D + i] += dvs[i];
            }
        }
    }

    /// <summary>dq (+=) for one (b·h, 8-query tile) group, looping over the key tiles it can see.</summary>
    [GpuKernel(Hot = true)]
    public static void BackwardQuery(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<int> lengths, AttentionDims dims,
        ArrayView<float> dq)
    {
        var qs = SharedMemory.Allocate<float>(BwdQ * MaxD);
        var dos = SharedMemory.Allocate<float>(BwdQ * MaxD);
        var dqs = SharedMemory.Allocate<float>(BwdQ * MaxD);
        var ks = SharedMemory.Allocate<float>(BwdK * MaxD);
        var vs = SharedMemory.Allocate<float>(BwdK * MaxD);
        var dss = SharedMemory.Allocate<float>(BwdQ * BwdK);
        int tid = Group.IdxX, group = Grid.IdxX;
        int T = dims.Tokens, D = dims.HeadDim;
        int tiles = (T + BwdQ - 1) / BwdQ;
        int bh = group / tiles, q0 = group % tiles * BwdQ;
        int bas = bh * T * D;
        int L = dims.Padded ? lengths[bh / dims.Heads] : T;
        LoadRows(q, bas, q0, T, D, BwdQ, dims.Scale, qs, tid);
        LoadRows(dO, bas, q0, T, D, BwdQ, 1f, dos, tid);
        for (int i = tid; i < BwdQ * D; i += Threads)
        {
            dqs[i] = 0f;
        }
        int keys = XMath.Min(dims.Causal ? XMath.Min(q0 + BwdQ, T) : T, L);
        for (int k0 = 0; k0 < keys; k0 += BwdK)
        {
            Group.Barrier();
            LoadRows(k, bas, k0, T, D, BwdK, 1f, ks, tid);
            LoadRows(v, bas, k0, T, D, BwdK, 1f, vs, tid);
            Group.Barrier();
            for (int e = tid; e < BwdQ * BwdK; e += Threads)
            {
                int r = e / BwdK, c = e - r * BwdK, t = q0 + r, j = k0 + c;
                int rowLimit = t < T ? XMath.Min(dims.Causal ? t + 1 : T, L) : 0;
                float ds = 0f;
                if (j < rowLimit)
                {
                    float p = XMath.Exp(Dot(qs, r * D, ks, c * D, D) - lse[bh * T + t]);
                    ds = p * (Dot(dos, r * D, vs, c * D, D) - delta[bh * T + t]);
                }
                dss[e] = ds;
            }
            Group.Barrier();
            for (int i = tid; i < BwdQ * D; i += Threads)
            {
                int r = i / D, d = i - r * D;
                float acc = 0f;
                for (int c = 0; c < BwdK; c++)
                {
                    acc += dss[r * BwdK + c] * ks[c * D + d];
                }
                dqs[i] += acc * dims.Scale;
            }
        }
        for (int i = tid; i < BwdQ * D; i += Threads)
        {
            if (q0 + i / D < T)
            {
                dq[bas + q0 * D + i] += dqs[i];
            }
        }
    }

    /// <summary>dst[r·D + d] = scale·src[row0 + r, d] for r &lt; rows (zero past the last token).</summary>
    private static void LoadRows(ArrayView<float> src, int bas, int row0, int T, int D, int rows, float scale,
        ArrayView<float> dst, int tid)
    {
        for (int i = tid; i < rows * D; i += Threads)
        {
            dst[i] = row0 + i / D < T ? src[bas + row0 * D + i] * scale : 0f;
        }
    }

    private static float Dot(ArrayView<float> a, int ao, ArrayView<float> b, int bo, int n)
    {
        float sum = 0f;
        for (int d = 0; d < n; d++)
        {
            sum += a[ao + d] * b[bo + d];
        }
        return sum;
    }

    /// <summary>exp(s − m), exactly 0 for a masked score (s = −∞).</summary>
    private static float Prob(float s, float m) => s > float.NegativeInfinity ? XMath.Exp(s - m) : 0f;
}

/// <summary>
/// Max and sum over the 4 adjacent lanes that own one attention query row; all 4 lanes get the same bits
/// ((a ∘ b) ∘ (c ∘ d) in lane order, as the xor-1-then-xor-2 butterfly gives). Every thread of the group must call it.
/// </summary>
internal interface IQuadReduce
{
    float Max(float v, int tid);

    float Sum(float v, int tid);
}

/// <summary>The butterfly over warp shuffles (CUDA).</summary>
internal readonly struct ShuffleQuadReduce : IQuadReduce
{
    public float Max(float v, int tid)
    {
        v = XMath.Max(v, Warp.ShuffleXor(v, 1));
        return XMath.Max(v, Warp.ShuffleXor(v, 2));
    }

    public float Sum(float v, int tid)
    {
        v += Warp.ShuffleXor(v, 1);
        return v + Warp.ShuffleXor(v, 2);
    }
}

/// <summary>
/// Through shared memory (OpenCL): each thread stores its value, one barrier, then reads its quad. Max and sum use
/// separate arrays, so one barrier each suffices: a slot is rewritten only in the next key tile, after the
/// forward loop's own barriers, when every reader of the previous tile is done.
/// </summary>
internal readonly struct SharedQuadReduce(ArrayView<float> maxSlots, ArrayView<float> sumSlots) : IQuadReduce
{
    private readonly ArrayView<float> _max = maxSlots, _sum = sumSlots;

    public float Max(float v, int tid)
    {
        _max[tid] = v;
        Group.Barrier();
        int b = tid & ~3;
        return XMath.Max(XMath.Max(_max[b], _max[b + 1]), XMath.Max(_max[b + 2], _max[b + 3]));
    }

    public float Sum(float v, int tid)
    {
        _sum[tid] = v;
        Group.Barrier();
        int b = tid & ~3;
        return (_sum[b] + _sum[b + 1]) + (_sum[b + 2] + _sum[b + 3]);
    }
}
