namespace Lddm.Kernels.Reference;

/// <summary>Slow, obviously correct float64 versions of the reduction kernels (tests and benchmarks).</summary>
public static class ReductionReference
{
    public static double Sum(ReadOnlySpan<float> x, double scale = 1, double initial = 0)
    {
        double s = 0;
        foreach (float v in x)
        {
            s += v;
        }
        return initial + scale * s;
    }

    /// <summary>result[c] = initial[c] + Σ_r x[r, c] (initial may be empty: zeros).</summary>
    public static double[] SumRows(ReadOnlySpan<float> x, int rows, int cols, ReadOnlySpan<float> initial)
    {
        var result = new double[cols];
        for (int c = 0; c < cols; c++)
        {
            result[c] = initial.IsEmpty ? 0 : initial[c];
            for (int r = 0; r < rows; r++)
            {
                result[c] += x[r * cols + c];
            }
        }
        return result;
    }

    /// <summary>result[r] = initial[r] + Σ_c x[r, c] (initial may be empty: zeros).</summary>
    public static double[] SumCols(ReadOnlySpan<float> x, int rows, int cols, ReadOnlySpan<float> initial)
    {
        var result = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            result[r] = initial.IsEmpty ? 0 : initial[r];
            for (int c = 0; c < cols; c++)
            {
                result[r] += x[r * cols + c];
            }
        }
        return result;
    }
}
