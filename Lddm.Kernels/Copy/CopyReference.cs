namespace Lddm.Kernels.Reference;

/// <summary>Float64 versions of the layout kernels.</summary>
public static class CopyReference
{
    public static double[] SwapAxes(ReadOnlySpan<float> x, int outer, int a, int middle, int b, int inner)
    {
        var dst = new double[x.Length];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < a; i++)
                for (int m = 0; m < middle; m++)
                    for (int j = 0; j < b; j++)
                        for (int n = 0; n < inner; n++)
                        {
                            dst[(((o * b + j) * middle + m) * a + i) * inner + n] = x[(((o * a + i) * middle + m) * b + j) * inner + n];
                        }
        return dst;
    }

    public static double[] CopyBlock(ReadOnlySpan<float> src, int srcOffset, int srcStride, ReadOnlySpan<float> dst,
        int dstOffset, int dstStride, int rows, int cols, bool accumulate)
    {
        var result = new double[dst.Length];
        for (int i = 0; i < dst.Length; i++)
        {
            result[i] = dst[i];
        }
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                int d = dstOffset + r * dstStride + c;
                double v = src[srcOffset + r * srcStride + c];
                result[d] = accumulate ? result[d] + v : v;
            }
        }
        return result;
    }

    /// <summary>The view's elements in row-major order: element i at layout.Offset + Σ_d i_d·Strides[d].</summary>
    public static double[] Gather(ReadOnlySpan<float> src, StridedLayout layout, ReadOnlySpan<float> dst, bool accumulate)
    {
        var result = new double[layout.Elements];
        for (int i = 0; i < result.Length; i++)
        {
            double v = src[Position(layout, i)];
            result[i] = accumulate ? dst[i] + v : v;
        }
        return result;
    }

    /// <summary>dst with each view position p(i) replaced by (or increased by) src[i].</summary>
    public static double[] Scatter(ReadOnlySpan<float> src, StridedLayout layout, ReadOnlySpan<float> dst, bool accumulate)
    {
        var result = new double[dst.Length];
        for (int i = 0; i < dst.Length; i++)
        {
            result[i] = dst[i];
        }
        for (int i = 0; i < layout.Elements; i++)
        {
            int p = Position(layout, i);
            result[p] = accumulate ? result[p] + src[i] : src[i];
        }
        return result;
    }

    /// <summary>The buffer position of the view's i-th element (row-major over its shape), by explicit index arithmetic.</summary>
    public static int Position(StridedLayout layout, int i)
    {
        long p = layout.Offset;
        for (int d = layout.Rank - 1; d >= 0; d--)
        {
            p += (long)(i % layout.Shape[d]) * layout.Strides[d];
            i /= layout.Shape[d];
        }
        return checked((int)p);
    }
}
