using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// SUBS cross-entropy kernels: one group per row (explicitly grouped, grid = rows). A carry-over row leaves the
/// whole group at once (before any barrier); a masked row reduces max and Σexp over the K = vocab − 1 real
/// columns with an <see cref="IRowReduce"/> (warp shuffles; the <c>NoShuffle</c> twins, for OpenCL, a shared-memory
/// tree); the MASK column is never read.
/// </summary>
internal static class CrossEntropyIlgpuKernels
{
    /// <summary>loss[r] = −w[r]·log softmax_real(logits[r])[t[r]] for masked rows, 0 for carry-over rows.</summary>
    [GpuKernel(Hot = true, WarpShuffles = true)]
    public static void SubsForward(ArrayView<float> logits, ArrayView<int> targets, ArrayView<int> noisy,
        ArrayView<float> weights, ArrayView<float> loss, int vocab, int quad) =>
        Forward(logits, targets, noisy, weights, loss, vocab, quad, new WarpRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxWarps)));

    /// <summary><see cref="SubsForward"/> without warp shuffles.</summary>
    [GpuKernel(Hot = true)]
    public static void SubsForwardNoShuffle(ArrayView<float> logits, ArrayView<int> targets, ArrayView<int> noisy,
        ArrayView<float> weights, ArrayView<float> loss, int vocab, int quad) =>
        Forward(logits, targets, noisy, weights, loss, vocab, quad, new TreeRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxTreeGroup)));

    /// <summary>dlogits[r, j &lt; K] += dloss[r]·w[r]·(p_j − 1[j == t[r]]) for masked rows; nothing else changes.</summary>
    [GpuKernel(WarpShuffles = true)]
    public static void SubsBackward(ArrayView<float> logits, ArrayView<int> targets, ArrayView<int> noisy,
        ArrayView<float> weights, ArrayView<float> dloss, ArrayView<float> dlogits, int vocab, int quad) =>
        Backward(logits, targets, noisy, weights, dloss, dlogits, vocab, quad, new WarpRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxWarps)));

    /// <summary><see cref="SubsBackward"/> without warp shuffles.</summary>
    [GpuKernel]
    public static void SubsBackwardNoShuffle(ArrayView<float> logits, ArrayView<int> targets, ArrayView<int> noisy,
        ArrayView<float> weights, ArrayView<float> dloss, ArrayView<float> dlogits, int vocab, int quad) =>
        Backward(logits, targets, noisy, weights, dloss, dlogits, vocab, quad, new TreeRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxTreeGroup)));

    private static void Forward<TReduce>(ArrayView<float> logits, ArrayView<int> targets, ArrayView<int> noisy,
        ArrayView<float> weights, ArrayView<float> loss, int vocab, int quad, TReduce reduce)
        where TReduce : struct, IRowReduce
    {
        int row = Grid.IdxX, tid = Group.IdxX, g = Group.DimX, k = vocab - 1;
        if (noisy[row] != k)
        {
            if (tid == 0)
            {
                loss[row] = 0f;
            }
            return;
        }
        long o = (long)row * vocab;
        // Quads cover the real columns up to K rounded down to 4 (the MASK column, the last, is in none of them).
        OnlineRowStats.MaxAndSumExp(logits, o, k, RowQuads.Head(k, quad), tid, g, reduce, out float m, out float s);
        bool flat = m == float.NegativeInfinity;
        if (tid == 0)
        {
            float lt = flat ? 0f : logits[o + targets[row]] - m;
            loss[row] = weights[row] * (XMath.Log(s) - lt);
        }
    }

    private static void Backward<TReduce>(ArrayView<float> logits, ArrayView<int> targets, ArrayView<int> noisy,
        ArrayView<float> weights, ArrayView<float> dloss, ArrayView<float> dlogits, int vocab, int quad, TReduce reduce)
        where TReduce : struct, IRowReduce
    {
        int row = Grid.IdxX, tid = Group.IdxX, g = Group.DimX, k = vocab - 1;
        if (noisy[row] != k)
        {
            return;
        }
        long o = (long)row * vocab;
        int head = RowQuads.Head(k, quad);
        OnlineRowStats.MaxAndSumExp(logits, o, k, head, tid, g, reduce, out float m, out float s);
        bool flat = m == float.NegativeInfinity;
        float c = dloss[row] * weights[row] / s;
        float gt = dloss[row] * weights[row];
        int t = targets[row];
        for (int q = tid; q < head >> 2; q += g)
        {
            long i = (o >> 2) + q;
            int j = q << 2;
            var v = logits.Cast<MmaFloat4>()[i];
            var r = dlogits.Cast<MmaFloat4>()[i];
            r.X += Grad(v.X, m, flat, c, gt, j == t);
            r.Y += Grad(v.Y, m, flat, c, gt, j + 1 == t);
            r.Z += Grad(v.Z, m, flat, c, gt, j + 2 == t);
            r.W += Grad(v.W, m, flat, c, gt, j + 3 == t);
            dlogits.Cast<MmaFloat4>()[i] = r;
        }
        for (int j = head + tid; j < k; j += g)
        {
            dlogits[o + j] += Grad(logits[o + j], m, flat, c, gt, j == t);
        }
    }

    /// <summary>∂loss/∂logit: p·(dloss·w) less dloss·w at the target, with c = dloss·w / Σexp.</summary>
    private static float Grad(float logit, float m, bool flat, float c, float gt, bool target)
    {
        float p = XMath.Exp(flat ? 0f : logit - m) * c;
        return target ? p - gt : p;
    }
}
