using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// Row softmax kernels: one group per row (explicitly grouped, grid = rows), threads stride over the columns;
/// max and sum are reduced with warp shuffles then across warps through shared memory (<see cref="RowReduce"/>).
/// </summary>
internal static class SoftmaxIlgpuKernels
{
    /// <summary>y = softmax(x) per row of <paramref name="cols"/>; an all −∞ row is uniform.</summary>
    [GpuKernel(Hot = true)]
    public static void SoftmaxForward(ArrayView<float> x, ArrayView<float> y, int cols) => Forward(x, y, cols, false);

    /// <summary>y = log softmax(x) per row; an all −∞ row gives −log(cols).</summary>
    [GpuKernel(Hot = true)]
    public static void LogSoftmaxForward(ArrayView<float> x, ArrayView<float> y, int cols) => Forward(x, y, cols, true);

    /// <summary>dx += y·(dy − Σ dy·y) per row.</summary>
    [GpuKernel]
    public static void SoftmaxBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols)
    {
        var scratch = SharedMemory.Allocate<float>(RowReduce.MaxWarps);
        int tid = Group.IdxX, g = Group.DimX;
        long o = (long)Grid.IdxX * cols;
        float s = 0f;
        for (int j = tid; j < cols; j += g)
        {
            s += dy[o + j] * y[o + j];
        }
        s = RowReduce.Sum(s, scratch);
        for (int j = tid; j < cols; j += g)
        {
            dx[o + j] += y[o + j] * (dy[o + j] - s);
        }
    }

    /// <summary>dx += dy − exp(y)·Σ dy per row.</summary>
    [GpuKernel]
    public static void LogSoftmaxBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols)
    {
        var scratch = SharedMemory.Allocate<float>(RowReduce.MaxWarps);
        int tid = Group.IdxX, g = Group.DimX;
        long o = (long)Grid.IdxX * cols;
        float s = 0f;
        for (int j = tid; j < cols; j += g)
        {
            s += dy[o + j];
        }
        s = RowReduce.Sum(s, scratch);
        for (int j = tid; j < cols; j += g)
        {
            dx[o + j] += dy[o + j] - XMath.Exp(y[o + j]) * s;
        }
    }

    private static void Forward(ArrayView<float> x, ArrayView<float> y, int cols, bool log)
    {
        var scratch = SharedMemory.Allocate<float>(RowReduce.MaxWarps);
        int tid = Group.IdxX, g = Group.DimX;
        long o = (long)Grid.IdxX * cols;
        float m = float.NegativeInfinity;
        for (int j = tid; j < cols; j += g)
        {
            m = XMath.Max(m, x[o + j]);
        }
        m = RowReduce.Max(m, scratch);
        // All −∞: shift every entry to 0 so the row comes out uniform instead of NaN (−∞ − −∞).
        bool flat = m == float.NegativeInfinity;
        float s = 0f;
        for (int j = tid; j < cols; j += g)
        {
            s += XMath.Exp(flat ? 0f : x[o + j] - m);
        }
        s = RowReduce.Sum(s, scratch);
        if (log)
        {
            float lse = XMath.Log(s);
            for (int j = tid; j < cols; j += g)
            {
                y[o + j] = (flat ? 0f : x[o + j] - m) - lse;
            }
        }
        else
        {
            float inv = 1f / s;
            for (int j = tid; j < cols; j += g)
            {
                y[o + j] = XMath.Exp(flat ? 0f : x[o + j] - m) * inv;
            }
        }
    }
}

/// <summary>
/// Group-wide reductions for one-group-per-row kernels: a butterfly over the warp (every lane gets the
/// result), one value per warp into shared memory, then every thread folds the warp partials in the same order,
/// so all threads hold bit-identical results. The group size must be a multiple of the warp size.
/// </summary>
internal static class RowReduce
{
    /// <summary>Shared-memory slots: enough for 1024-thread groups of 32-thread warps.</summary>
    public const int MaxWarps = 32;

    public static float Sum(float v, ArrayView<float> scratch)
    {
        int ws = Warp.WarpSize;
        for (int offset = ws / 2; offset > 0; offset >>= 1)
        {
            v += Warp.ShuffleXor(v, offset);
        }
        int warps = Group.DimX / ws;
        if (Warp.LaneIdx == 0)
        {
            scratch[Warp.WarpIdx] = v;
        }
        Group.Barrier();
        float t = scratch[0];
        for (int w = 1; w < warps; w++)
        {
            t += scratch[w];
        }
        Group.Barrier();
        return t;
    }

    public static float Max(float v, ArrayView<float> scratch)
    {
        int ws = Warp.WarpSize;
        for (int offset = ws / 2; offset > 0; offset >>= 1)
        {
            v = XMath.Max(v, Warp.ShuffleXor(v, offset));
        }
        int warps = Group.DimX / ws;
        if (Warp.LaneIdx == 0)
        {
            scratch[Warp.WarpIdx] = v;
        }
        Group.Barrier();
        float t = scratch[0];
        for (int w = 1; w < warps; w++)
        {
            t = XMath.Max(t, scratch[w]);
        }
        Group.Barrier();
        return t;
    }
}
