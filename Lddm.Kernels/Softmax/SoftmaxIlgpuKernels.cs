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
    public static void SoftmaxForward(ArrayView<float> x, ArrayView<float> y, int cols, int quad) =>
        Forward(x, y, cols, quad, false, new WarpRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxWarps)));

    /// <summary><see cref="SoftmaxForward"/> without warp shuffles.</summary>
    [GpuKernel(Hot = true)]
    public static void SoftmaxForwardNoShuffle(ArrayView<float> x, ArrayView<float> y, int cols, int quad) =>
        Forward(x, y, cols, quad, false, new TreeRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxTreeGroup)));

    /// <summary>y = log softmax(x) per row; an all −∞ row gives −log(cols).</summary>
    [GpuKernel(Hot = true, WarpShuffles = true)]
    public static void LogSoftmaxForward(ArrayView<float> x, ArrayView<float> y, int cols, int quad) =>
        Forward(x, y, cols, quad, true, new WarpRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxWarps)));

    /// <summary><see cref="LogSoftmaxForward"/> without warp shuffles.</summary>
    [GpuKernel(Hot = true)]
    public static void LogSoftmaxForwardNoShuffle(ArrayView<float> x, ArrayView<float> y, int cols, int quad) =>
        Forward(x, y, cols, quad, true, new TreeRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxTreeGroup)));

    /// <summary>dx += y·(dy − Σ dy·y) per row.</summary>
    [GpuKernel(WarpShuffles = true)]
    public static void SoftmaxBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols, int quad) =>
        Backward(y, dy, dx, cols, quad, new WarpRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxWarps)));

    /// <summary><see cref="SoftmaxBackward"/> without warp shuffles.</summary>
    [GpuKernel]
    public static void SoftmaxBackwardNoShuffle(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols, int quad) =>
        Backward(y, dy, dx, cols, quad, new TreeRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxTreeGroup)));

    /// <summary>dx += dy − exp(y)·Σ dy per row.</summary>
    [GpuKernel(WarpShuffles = true)]
    public static void LogSoftmaxBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols, int quad) =>
        LogBackward(y, dy, dx, cols, quad, new WarpRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxWarps)));

    /// <summary><see cref="LogSoftmaxBackward"/> without warp shuffles.</summary>
    [GpuKernel]
    public static void LogSoftmaxBackwardNoShuffle(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols, int quad) =>
        LogBackward(y, dy, dx, cols, quad, new TreeRowReduce(SharedMemory.Allocate<float>(RowReduce.MaxTreeGroup)));

    private static void Backward<TReduce>(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols, int quad,
        TReduce reduce)
        where TReduce : struct, IRowReduce
    {
        int tid = Group.IdxX, g = Group.DimX;
        long o = (long)Grid.IdxX * cols;
        int head = RowQuads.Head(cols, quad);
        float s = 0f;
        for (int q = tid; q < head >> 2; q += g)
        {
            long i = (o >> 2) + q;
            var a = y.Cast<MmaFloat4>()[i];
            var d = dy.Cast<MmaFloat4>()[i];
            s += d.X * a.X;
            s += d.Y * a.Y;
            s += d.Z * a.Z;
            s += d.W * a.W;
        }
        for (int j = head + tid; j < cols; j += g)
        {
            s += dy[o + j] * y[o + j];
        }
        s = reduce.Sum(s);
        for (int q = tid; q < head >> 2; q += g)
        {
            long i = (o >> 2) + q;
            var a = y.Cast<MmaFloat4>()[i];
            var d = dy.Cast<MmaFloat4>()[i];
            var r = dx.Cast<MmaFloat4>()[i];
            r.X += a.X * (d.X - s);
            r.Y += a.Y * (d.Y - s);
            r.Z += a.Z * (d.Z - s);
            r.W += a.W * (d.W - s);
            dx.Cast<MmaFloat4>()[i] = r;
        }
        for (int j = head + tid; j < cols; j += g)
        {
            dx[o + j] += y[o + j] * (dy[o + j] - s);
        }
    }

    private static void LogBackward<TReduce>(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols, int quad,
        TReduce reduce)
        where TReduce : struct, IRowReduce
    {
        int tid = Group.IdxX, g = Group.DimX;
        long o = (long)Grid.IdxX * cols;
        int head = RowQuads.Head(cols, quad);
        float s = 0f;
        for (int q = tid; q < head >> 2; q += g)
        {
            var d = dy.Cast<MmaFloat4>()[(o >> 2) + q];
            s += d.X;
            s += d.Y;
            s += d.Z;
            s += d.W;
        }
        for (int j = head + tid; j < cols; j += g)
        {
            s += dy[o + j];
        }
        s = reduce.Sum(s);
        for (int q = tid; q < head >> 2; q += g)
        {
            long i = (o >> 2) + q;
            var a = y.Cast<MmaFloat4>()[i];
            var d = dy.Cast<MmaFloat4>()[i];
            var r = dx.Cast<MmaFloat4>()[i];
            r.X += d.X - XMath.Exp(a.X) * s;
            r.Y += d.Y - XMath.Exp(a.Y) * s;
            r.Z += d.Z - XMath.Exp(a.Z) * s;
            r.W += d.W - XMath.Exp(a.W) * s;
            dx.Cast<MmaFloat4>()[i] = r;
        }
        for (int j = head + tid; j < cols; j += g)
        {
            dx[o + j] += dy[o + j] - XMath.Exp(y[o + j]) * s;
        }
    }

    private static void Forward<TReduce>(ArrayView<float> x, ArrayView<float> y, int cols, int quad, bool log, TReduce reduce)
        where TReduce : struct, IRowReduce
    {
        int tid = Group.IdxX, g = Group.DimX;
        long o = (long)Grid.IdxX * cols;
        int head = RowQuads.Head(cols, quad);
        OnlineRowStats.MaxAndSumExp(x, o, cols, head, tid, g, reduce, out float m, out float s);
        // All −∞: shift every entry to 0 so the row comes out uniform instead of NaN (−∞ − −∞).
        bool flat = m == float.NegativeInfinity;
        // log: y = (x − m) − log s; else y = exp(x − m) / s.
        float lse = log ? XMath.Log(s) : 0f, inv = log ? 0f : 1f / s;
        for (int q = tid; q < head >> 2; q += g)
        {
            long i = (o >> 2) + q;
            var v = x.Cast<MmaFloat4>()[i];
            MmaFloat4 r;
            r.X = Out(v.X, m, flat, log, lse, inv);
            r.Y = Out(v.Y, m, flat, log, lse, inv);
            r.Z = Out(v.Z, m, flat, log, lse, inv);
            r.W = Out(v.W, m, flat, log, lse, inv);
            y.Cast<MmaFloat4>()[i] = r;
        }
        for (int j = head + tid; j < cols; j += g)
        {
            y[o + j] = Out(x[o + j], m, flat, log, lse, inv);
        }
    }

    private static float Out(float v, float m, bool flat, bool log, float lse, float inv) =>
        log ? (flat ? 0f : v - m) - lse : XMath.Exp(flat ? 0f : v - m) * inv;
}

/// <summary>
/// 128-bit loads for the one-group-per-row kernels, as the FP32 GEMM reads its operands (<see cref="MatmulParams.QuadA"/>):
/// when the host's per-launch flag says every row the kernel touches starts on a 16-byte boundary (the row stride is a
/// multiple of 4 floats and every view starts a multiple of 4 floats into its allocation), a thread walks the row's
/// first <see cref="Head"/> columns as whole quads q = tid, tid + group, … through a view cast to
/// <see cref="MmaFloat4"/> (one <c>ld.global.v4.f32</c> each), then the remaining columns (the tail; all of them
/// without the flag) one float at a time, strided as before. Each thread sees its entries in a different order than
/// on the float path, so the two paths agree to rounding, not bit for bit; within a path the order is fixed.
/// </summary>
internal static class RowQuads
{
    /// <summary>How many leading columns of an <paramref name="n"/>-column row go as quads: n rounded down to 4, or 0.</summary>
    public static int Head(int n, int quad) => quad != 0 ? n & ~3 : 0;
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
    /// <summary>
    /// Stats of the <paramref name="n"/> entries at <paramref name="o"/>; the first <paramref name="head"/> (a multiple
    /// of 4, <see cref="RowQuads.Head"/>) are read as aligned quads, each of a quad's entries in order.
    /// </summary>
    public static void MaxAndSumExp<TReduce>(ArrayView<float> x, long o, int n, int head, int tid, int g, TReduce reduce,
        out float max, out float sum) where TReduce : struct, IRowReduce
    {
        float m = float.NegativeInfinity, s = 0f;
        for (int q = tid; q < head >> 2; q += g)
        {
            var v = x.Cast<MmaFloat4>()[(o >> 2) + q];
            Add(ref m, ref s, v.X);
            Add(ref m, ref s, v.Y);
            Add(ref m, ref s, v.Z);
            Add(ref m, ref s, v.W);
        }
        for (int j = head + tid; j < n; j += g)
        {
            Add(ref m, ref s, x[o + j]);
        }
        max = reduce.Max(m);
        float scaled = m == float.NegativeInfinity ? 0f : s * XMath.Exp(m - max);
        float total = reduce.Sum(scaled);
        sum = max == float.NegativeInfinity ? n : total;
    }

    /// <summary>One entry into a thread's running max <paramref name="m"/> and sum <paramref name="s"/> of exp(x − m).</summary>
    private static void Add(ref float m, ref float s, float v)
    {
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
}
