namespace Lddm.Kernels.Reference;

/// <summary>Slow, obviously correct float64 batched GEMM (tests and the quick bench's validation).</summary>
public static class MatmulReference
{
    /// <summary>
    /// C[p] = α·op(A[p])·op(B[p]) + β·C[p] in float64, shapes as in <see cref="Backend.Matmul"/>.
    /// <paramref name="c"/> is not read when β = 0 (it may be empty).
    /// </summary>
    public static double[] Matmul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, int batch,
        int m, int n, int k, bool transposeA = false, bool transposeB = false, double alpha = 1, double beta = 0,
        bool broadcastB = false)
    {
        var dst = new double[batch * m * n];
        for (int p = 0; p < batch; p++)
        {
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    int o = (p * m + i) * n + j;
                    double dot = Dot(a, b, p, i, j, m, n, k, transposeA, transposeB, broadcastB);
                    dst[o] = alpha * dot + (beta == 0 ? 0 : beta * c[o]);
                }
            }
        }
        return dst;
    }

    /// <summary>Σ_q op(A[p])[i, q] · op(B[p])[q, j] in float64: one entry of the product.</summary>
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int p, int i, int j, int m, int n, int k,
        bool transposeA, bool transposeB, bool broadcastB)
    {
        int aOff = p * m * k, bOff = broadcastB ? 0 : p * k * n;
        double sum = 0;
        for (int q = 0; q < k; q++)
        {
            double x = transposeA ? a[aOff + q * m + i] : a[aOff + i * k + q];
            double y = transposeB ? b[bOff + j * k + q] : b[bOff + q * n + j];
            sum += x * y;
        }
        return sum;
    }
}
