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
}
