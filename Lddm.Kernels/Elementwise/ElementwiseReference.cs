namespace Lddm.Kernels.Reference;

/// <summary>Slow, obviously correct float64 versions of the elementwise kernels (tests and benchmarks).</summary>
public static class ElementwiseReference
{
    public static double[] Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var dst = new double[a.Length];
        for (int i = 0; i < a.Length; i++)
        {
            dst[i] = (double)a[i] + b[i % b.Length];
        }
        return dst;
    }

    public static double[] Mul(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var dst = new double[a.Length];
        for (int i = 0; i < a.Length; i++)
        {
            dst[i] = (double)a[i] * b[i % b.Length];
        }
        return dst;
    }

    public static double[] Axpby(double alpha, ReadOnlySpan<float> x, double beta, ReadOnlySpan<float> y)
    {
        var dst = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            dst[i] = alpha * x[i] + (beta == 0 ? 0 : beta * y[i]);
        }
        return dst;
    }
}
