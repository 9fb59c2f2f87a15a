using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// SUBS cross-entropy kernels: one group per row (explicitly grouped, grid = rows). A carry-over row leaves the
/// whole group at once (before any barrier); a masked row reduces max and Σexp over the K = vocab − 1 real
/// columns with <see cref="RowReduce"/>; the MASK column is never read.
/// </summary>
internal static class CrossEntropyIlgpuKernels
{
    /// <summary>loss[r] = −w[r]·log softmax_real(logits[r])[t[r]] for masked rows, 0 for carry-over rows.</summary>
    [GpuKernel(Hot = true)]
    public static void SubsForward(ArrayView<float> logits, ArrayView<int> targets, ArrayView<int> noisy,
        ArrayView<float> weights, ArrayView<float> loss, int vocab)
    {
        var scratch = SharedMemory.Allocate<float>(RowReduce.MaxWarps);
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
        float m = RowMax(logits, o, k, tid, g, scratch);
        bool flat = m == float.NegativeInfinity;
        float s = RowSumExp(logits, o, k, m, flat, tid, g, scratch);
        if (tid == 0)
        {
            float lt = flat ? 0f : logits[o + targets[row]] - m;
            loss[row] = weights[row] * (XMath.Log(s) - lt);
        }
    }

    /// <summary>dlogits[r, j &lt; K] += dloss[r]·w[r]·(p_j − 1[j == t[r]]) for masked rows; nothing else changes.</summary>
    [GpuKernel]
    public static void SubsBackward(ArrayView<float> logits, ArrayView<int> targets, ArrayView<int> noisy,
        ArrayView<float> weights, ArrayView<float> dloss, ArrayView<float> dlogits, int vocab)
    {
        var scratch = SharedMemory.Allocate<float>(RowReduce.MaxWarps);
        int row = Grid.IdxX, tid = Group.IdxX, g = Group.DimX, k = vocab - 1;
        if (noisy[row] != k)
        {
            return;
        }
        long o = (long)row * vocab;
        float m = RowMax(logits, o, k, tid, g, scratch);
        bool flat = m == float.NegativeInfinity;
        float s = RowSumExp(logits, o, k, m, flat, tid, g, scratch);
        float c = dloss[row] * weights[row] / s;
        float gt = dloss[row] * weights[row];
        int t = targets[row];
        for (int j = tid; j < k; j += g)
        {
            float p = XMath.Exp(flat ? 0f : logits[o + j] - m) * c;
            dlogits[o + j] += j == t ? p - gt : p;
        }
    }

    private static float RowMax(ArrayView<float> x, long o, int n, int tid, int g, ArrayView<float> scratch)
    {
        float m = float.NegativeInfinity;
        for (int j = tid; j < n; j += g)
        {
            m = XMath.Max(m, x[o + j]);
        }
        return RowReduce.Max(m, scratch);
    }

    private static float RowSumExp(ArrayView<float> x, long o, int n, float m, bool flat, int tid, int g, ArrayView<float> scratch)
    {
        float s = 0f;
        for (int j = tid; j < n; j += g)
        {
            s += XMath.Exp(flat ? 0f : x[o + j] - m);
        }
        return RowReduce.Sum(s, scratch);
    }
}
