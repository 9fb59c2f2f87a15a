using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// Row softmax kernels: one group per row (explicitly grouped, grid = rows), threads stride over the columns.
/// Each kernel exists twice: max and sum reduced with warp shuffles then across warps through shared memory
/// (<see cref="WarpRowReduce"/>, CUDA), and a <c>NoShuffle</c> twin that reduces with a shared-memory tree
/// (<see cref="TreeRowReduce"/>, OpenCL: ILGPU 1.5.3 emits shuffles in OpenCL C only for Intel GPU subgroups).
/// </summary>
internal static class SoftmaxIlgpuKernels
{
    /// <summary>y = softmax(x) per row of <paramref name="cols"/>; an all −∞ row is uniform.</summary>
    [GpuKernel(Hot = true, WarpShuffles = true)]
    public static void SoftmaxForward(ArrayView<float> x, ArrayView<float> y, int cols) =>
        Forward(x, y, cols, false, new WarpRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxWarps)));

    /// <summary><see cref="SoftmaxForward"/> without warp shuffles.</summary>
    [GpuKernel(Hot = true)]
    public static void SoftmaxForwardNoShuffle(ArrayView<float> x, ArrayView<float> y, int cols) =>
        Forward(x, y, cols, false, new TreeRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxTreeGroup)));

    /// <summary>y = log softmax(x) per row; an all −∞ row gives −log(cols).</summary>
    [GpuKernel(Hot = true, WarpShuffles = true)]
    public static void LogSoftmaxForward(ArrayView<float> x, ArrayView<float> y, int cols) =>
        Forward(x, y, cols, true, new WarpRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxWarps)));

    /// <summary><see cref="LogSoftmaxForward"/> without warp shuffles.</summary>
    [GpuKernel(Hot = true)]
    public static void LogSoftmaxForwardNoShuffle(ArrayView<float> x, ArrayView<float> y, int cols) =>
        Forward(x, y, cols, true, new TreeRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxTreeGroup)));

    /// <summary>dx += y·(dy − Σ dy·y) per row.</summary>
    [GpuKernel(WarpShuffles = true)]
    public static void SoftmaxBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols) =>
        Backward(y, dy, dx, cols, new WarpRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxWarps)));

    /// <summary><see cref="SoftmaxBackward"/> without warp shuffles.</summary>
    [GpuKernel]
    public static void SoftmaxBackwardNoShuffle(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols) =>
        Backward(y, dy, dx, cols, new TreeRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxTreeGroup)));

    /// <summary>dx += dy − exp(y)·Σ dy per row.</summary>
    [GpuKernel(WarpShuffles = true)]
    public static void LogSoftmaxBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols) =>
        LogBackward(y, dy, dx, cols, new WarpRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxWarps)));

    /// <summary><see cref="LogSoftmaxBackward"/> without warp shuffles.</summary>
    [GpuKernel]
    public static void LogSoftmaxBackwardNoShuffle(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols) =>
        LogBackward(y, dy, dx, cols, new TreeRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxTreeGroup)));

    private static void Backward<TReduce>(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols, TReduce reduce)
        where TReduce : struct, IRowReduce
    {
        int tid = Group.IdxX, g = Group.DimX;
        long o = (long)Grid.IdxX * cols;
        float s = 0f;
        for (int j = tid; j < cols; j += g)
        {
            s += dy[o + j] * y[o + j];
        }
        s = reduce.Sum(s);
        for (int j = tid; j < cols; j += g)
        {
            dx[o + j] += y[o + j] * (dy[o + j] - s);
        }
    }

    private static void LogBackward<TReduce>(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols, TReduce reduce)
        where TReduce : struct, IRowReduce
    {
        int tid = Group.IdxX, g = Group.DimX;
        long o = (long)Grid.IdxX * cols;
        float s = 0f;
        for (int j = tid; j < cols; j += g)
        {
            s += dy[o + j];
        }
        s = reduce.Sum(s);
        for (int j = tid; j < cols; j += g)
        {
            dx[o + j] += dy[o + j] - XMath.Exp(y[o + j]) * s;
        }
    }

    private static void Forward<TReduce>(ArrayView<float> x, ArrayView<float> y, int cols, bool log, TReduce reduce)
        where TReduce : struct, IRowReduce
    {
        int tid = Group.IdxX, g = Group.DimX;
        long o = (long)Grid.IdxX * cols;
        OnlineRowStats.MaxAndSumExp(x, o, cols, tid, g, reduce, out float m, out float s);
        // All −∞: shift every entry to 0 so the row comes out uniform instead of NaN (−∞ − −∞).
        bool flat = m == float.NegativeInfinity;
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
/// A group-wide reduction for one-group-per-row kernels: every thread of the group gets the same bits.
/// Implemented by structs so each kernel instantiation compiles only its own strategy — the shuffle-free
/// kernels contain no shuffle for the OpenCL code generator to reject.
/// </summary>
internal interface IRowReduce
{
    float Sum(float v);

    float Max(float v);
}

/// <summary>Warp shuffles then one slot per warp (<see cref="RowReduce"/>); scratch holds <see cref="RowReduce.MaxWarps"/>.</summary>
internal readonly struct WarpRowReduce(ArrayView<float> scratch) : IRowReduce
{
    private readonly ArrayView<float> _scratch = scratch;

    public float Sum(float v) => RowReduce.Sum(v, _scratch);

    public float Max(float v) => RowReduce.Max(v, _scratch);
}

/// <summary>
/// A shared-memory tree without shuffles: each thread stores its value, then ⌈log₂ group⌉ halving steps with a
/// barrier each fold the upper part onto the lower (any group size up to <see cref="RowReduce.MaxTreeGroup"/>),
/// and every thread reads slot 0. The fold order is fixed by the group size, so results are deterministic.
/// </summary>
internal readonly struct TreeRowReduce(ArrayView<float> scratch) : IRowReduce
{
    private readonly ArrayView<float> _scratch = scratch;

    public float Sum(float v)
    {
        int tid = Group.IdxX;
        _scratch[tid] = v;
        Group.Barrier();
        for (int n = Group.DimX; n > 1;)
        {
            int half = (n + 1) >> 1;
            if (tid < n - half)
            {
                _scratch[tid] += _scratch[tid + half];
            }
            Group.Barrier();
            n = half;
        }
        float t = _scratch[0];
        Group.Barrier();
        return t;
    }

    public float Max(float v)
    {
        int tid = Group.IdxX;
        _scratch[tid] = v;
        Group.Barrier();
        for (int n = Group.DimX; n > 1;)
        {
            int half = (n + 1) >> 1;
            if (tid < n - half)
            {
                _scratch[tid] = XMath.Max(_scratch[tid], _scratch[tid + half]);
            }
            Group.Barrier();
            n = half;
        }
        float t = _scratch[0];
        Group.Barrier();
        return t;
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

    /// <summary>The largest group <see cref="TreeRowReduce"/> serves: its scratch holds one slot per thread.</summary>
    public const int MaxTreeGroup = 256;

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

/// <summary>
/// The row max and Σ exp(x − max) in one pass over the row (online softmax): each thread keeps its running max and a
/// sum rescaled whenever the max grows; the group then takes the max of the maxima and the sum of the thread sums
/// rescaled to it. Two passes over the row's memory (this one and the write) instead of three. An all −∞ row has
/// max −∞ and sum n (every entry shifted to 0, as the callers then treat it).
/// </summary>
internal static class OnlineRowStats
{
    public static void MaxAndSumExp<TReduce>(ArrayView<float> x, long o, int n, int tid, int g, TReduce reduce,
        out float max, out float sum) where TReduce : struct, IRowReduce
    {
        float m = float.NegativeInfinity, s = 0f;
        for (int j = tid; j < n; j += g)
        {
            float v = x[o + j];
            if (v > m)
            {
                // exp(−∞ − v) = 0 on the first finite value: s restarts at 1.
                s = s * XMath.Exp(m - v) + 1f;
                m = v;
            }
            else if (!(m == float.NegativeInfinity && v == float.NegativeInfinity))
            {
                s += XMath.Exp(v - m); // a NaN entry makes the sum NaN, as in the two-pass form
            }
        }
        max = reduce.Max(m);
        float scaled = m == float.NegativeInfinity ? 0f : s * XMath.Exp(m - max);
        float total = reduce.Sum(scaled);
        sum = max == float.NegativeInfinity ? n : total;
    }
}
