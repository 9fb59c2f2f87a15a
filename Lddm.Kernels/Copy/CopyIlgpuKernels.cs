using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Layout kernels: one thread per destination element.</summary>
internal static class CopyIlgpuKernels
{
    /// <summary>dst (outer, b, middle, a, inner) ← x (outer, a, middle, b, inner).</summary>
    [GpuKernel]
    public static void SwapAxes(Index1D index, ArrayView<float> x, ArrayView<float> dst, int a, int middle, int b, int inner)
    {
        int rest = index;
        int n = rest % inner;
        rest /= inner;
        int i = rest % a;
        rest /= a;
        int m = rest % middle;
        rest /= middle;
        int j = rest % b;
        int o = rest / b;
        long src = ((((long)o * a + i) * middle + m) * b + j) * inner + n;
        dst[index] = x[src];
    }

    /// <summary>dst[dOff + r·dStride + c] (+)= src[sOff + r·sStride + c], one thread per (r, c).</summary>
    [GpuKernel]
    public static void CopyBlock(Index1D index, ArrayView<float> src, ArrayView<float> dst, BlockCopyShape s)
    {
        int r = index / s.Cols, c = index % s.Cols;
        long d = s.DstOffset + (long)r * s.DstStride + c;
        float v = src[s.SrcOffset + (long)r * s.SrcStride + c];
        dst[d] = s.Accumulate != 0 ? dst[d] + v : v;
    }

    /// <summary>
    /// One thread per view element, in row-major order of the view: the view's position is found axis by axis from the
    /// innermost (slot 7) outwards; unused leading slots have size 1. Gather: contiguous[i] (+)= strided[position];
    /// scatter: strided[position] (+)= contiguous[i] (the layout is injective, so no two threads share a position).
    /// </summary>
    [GpuKernel]
    public static void Strided(Index1D index, ArrayView<float> contiguous, ArrayView<float> strided, StridedShape s)
    {
        int rest = index;
        long position = s.Offset;
        position += Axis(ref rest, s.D7, s.S7);
        if (s.Rank > 1)
        {
            position += Axis(ref rest, s.D6, s.S6);
            position += Axis(ref rest, s.D5, s.S5);
            position += Axis(ref rest, s.D4, s.S4);
            if (s.Rank > 4)
            {
                position += Axis(ref rest, s.D3, s.S3);
                position += Axis(ref rest, s.D2, s.S2);
                position += Axis(ref rest, s.D1, s.S1);
                position += Axis(ref rest, s.D0, s.S0);
            }
        }
        if (s.Scatter != 0)
        {
            float v = contiguous[index];
            strided[position] = s.Accumulate != 0 ? strided[position] + v : v;
        }
        else
        {
            float v = strided[position];
            contiguous[index] = s.Accumulate != 0 ? contiguous[index] + v : v;
        }
    }

    private static long Axis(ref int rest, int size, int stride)
    {
        int i = rest % size;
        rest /= size;
        return (long)i * stride;
    }
}

/// <summary>Arguments of <see cref="CopyIlgpuKernels.CopyBlock"/>.</summary>
internal readonly record struct BlockCopyShape(int SrcOffset, int SrcStride, int DstOffset, int DstStride, int Cols, int Accumulate);

/// <summary>
/// Arguments of <see cref="CopyIlgpuKernels.Strided"/>: a collapsed layout right-aligned in 8 axis slots (slot 7 the
/// innermost; unused slots have size 1 and stride 0).
/// </summary>
internal readonly record struct StridedShape(int Offset, int Rank, int Scatter, int Accumulate,
    int D0, int D1, int D2, int D3, int D4, int D5, int D6, int D7,
    int S0, int S1, int S2, int S3, int S4, int S5, int S6, int S7)
{
    public static StridedShape Of(StridedLayout layout, bool scatter, bool accumulate)
    {
        int[] shape = layout.MergedShape, strides = layout.MergedStrides;
        var d = new int[StridedLayout.MaxRank];
        var st = new int[StridedLayout.MaxRank];
        Array.Fill(d, 1);
        for (int i = 0; i < shape.Length; i++)
        {
            d[StridedLayout.MaxRank - shape.Length + i] = shape[i];
            st[StridedLayout.MaxRank - shape.Length + i] = strides[i];
        }
        return new StridedShape(layout.Offset, shape.Length, scatter ? 1 : 0, accumulate ? 1 : 0,
            d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7]);
    }
}
