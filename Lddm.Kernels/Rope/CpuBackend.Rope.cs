using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    protected override unsafe void RopeForwardCore(DeviceBuffer<float> x, int batch, int heads, int tokens, int headDim,
        float theta, DeviceBuffer<float> y) =>
        Rope(Raw(x).Pointer, Raw(y).Pointer, batch * heads * tokens, tokens, headDim, theta, 1f, accumulate: false);

    protected override unsafe void RopeBackwardCore(DeviceBuffer<float> dy, int batch, int heads, int tokens,
        int headDim, float theta, DeviceBuffer<float> dx) =>
        Rope(Raw(dy).Pointer, Raw(dx).Pointer, batch * heads * tokens, tokens, headDim, theta, -1f, accumulate: true);

    /// <summary>
    /// Rotates every row (one (b, head, t) vector of headDim) by sign·a; parallel over rows, SIMD over pairs.
    /// The forward rotates by +a and writes; the backward rotates by −a (the transpose) and adds.
    /// </summary>
    private unsafe void Rope(float* src, float* dst, int rows, int tokens, int headDim, float theta, float sign,
        bool accumulate)
    {
        var table = RopeTable.Get(tokens, headDim, theta);
        float* cos = table.Cos, sin = table.Sin;
        int half = headDim / 2;
        Pool.For(rows, Math.Max(1, ElementwiseChunk / headDim), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long row = (long)r * headDim;
                int t = r % tokens;
                RopeRow(src + row, dst + row, cos + t * half, sin + t * half, half, sign, accumulate);
            }
        });
        GC.KeepAlive(table);
    }

    /// <summary>
    /// (d1, d2) ⊕= (s1·c − s2·s, s2·c + s1·s) with s = sign·sin, over the pairs (i, i + half). Both halves are
    /// loaded before either is stored, so src may alias dst when not accumulating. Inlined: the attention kernels call
    /// it once per packed q/k row (head dims of 16–64: a call costs as much as the rotation).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void RopeRow(float* src, float* dst, float* cos, float* sin, int half, float sign, bool accumulate)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sg = Vector512.Create(sign);
            for (; i <= half - 16; i += 16)
            {
                Vector512<float> c = Vector512.Load(cos + i), s = sg * Vector512.Load(sin + i);
                Vector512<float> x1 = Vector512.Load(src + i), x2 = Vector512.Load(src + half + i);
                var y1 = Vector512.FusedMultiplyAdd(x1, c, -(x2 * s));
                var y2 = Vector512.FusedMultiplyAdd(x2, c, x1 * s);
                if (accumulate)
                {
                    y1 += Vector512.Load(dst + i);
                    y2 += Vector512.Load(dst + half + i);
                }
                y1.Store(dst + i);
                y2.Store(dst + half + i);
            }
        }
        // Also after the 512-bit loop: a half of 8 (the tiny preset's head dim 16) or a remainder of 8 or more.
        if (Vector256.IsHardwareAccelerated)
        {
            var sg = Vector256.Create(sign);
            for (; i <= half - 8; i += 8)
            {
                Vector256<float> c = Vector256.Load(cos + i), s = sg * Vector256.Load(sin + i);
                Vector256<float> x1 = Vector256.Load(src + i), x2 = Vector256.Load(src + half + i);
                var y1 = Vector256.FusedMultiplyAdd(x1, c, -(x2 * s));
                var y2 = Vector256.FusedMultiplyAdd(x2, c, x1 * s);
                if (accumulate)
                {
                    y1 += Vector256.Load(dst + i);
                    y2 += Vector256.Load(dst + half + i);
                }
                y1.Store(dst + i);
                y2.Store(dst + half + i);
            }
        }
        for (; i < half; i++)
        {
            float c = cos[i], s = sign * sin[i], x1 = src[i], x2 = src[half + i];
            float y1 = MathF.FusedMultiplyAdd(x1, c, -(x2 * s)), y2 = MathF.FusedMultiplyAdd(x2, c, x1 * s);
            dst[i] = accumulate ? dst[i] + y1 : y1;
            dst[half + i] = accumulate ? dst[half + i] + y2 : y2;
        }
    }
}
