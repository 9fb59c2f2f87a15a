namespace Lddm.Kernels.Reference;

/// <summary>Slow, obviously correct float64 LayerNorm (two-pass statistics) and its backward.</summary>
public static class LayerNormReference
{
    public static double[] ToDouble(ReadOnlySpan<float> v)
    {
        var d = new double[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            d[i] = v[i];
        }
        return d;
    }

    /// <summary>y = (x − μ)·rstd·γ + β per row; gamma/beta null mean γ = 1, β = 0. Returns y, μ and rstd.</summary>
    public static (double[] Y, double[] Mean, double[] Rstd) Forward(double[] x, double[]? gamma, double[]? beta,
        int rows, int cols, double epsilon)
    {
        var y = new double[rows * cols];
        var mean = new double[rows];
        var rstd = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double mu = 0, v = 0;
            for (int c = 0; c < cols; c++)
            {
                mu += x[r * cols + c];
            }
            mu /= cols;
            for (int c = 0; c < cols; c++)
            {
                double d = x[r * cols + c] - mu;
                v += d * d;
            }
            double rs = 1 / Math.Sqrt(v / cols + epsilon);
            mean[r] = mu;
            rstd[r] = rs;
            for (int c = 0; c < cols; c++)
            {
                y[r * cols + c] = (x[r * cols + c] - mu) * rs * (gamma?[c] ?? 1) + (beta?[c] ?? 0);
            }
        }
        return (y, mean, rstd);
    }

    /// <summary>
    /// The gradients (not accumulated) of Σ dy·y with respect to x, γ and β, given the saved μ and rstd:
    /// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ; dγ = Σ_r dy·x̂; dβ = Σ_r dy.
    /// </summary>
    public static (double[] Dx, double[] Dgamma, double[] Dbeta) Backward(double[] x, double[]? gamma, double[] mean,
        double[] rstd, double[] dy, int rows, int cols)
    {
        var dx = new double[rows * cols];
        var dgamma = new double[cols];
        var dbeta = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            double sg = 0, sgx = 0;
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                double xhat = (x[i] - mean[r]) * rstd[r], g = dy[i] * (gamma?[c] ?? 1);
                sg += g;
                sgx += g * xhat;
                dgamma[c] += dy[i] * xhat;
                dbeta[c] += dy[i];
            }
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                double xhat = (x[i] - mean[r]) * rstd[r], g = dy[i] * (gamma?[c] ?? 1);
                dx[i] = rstd[r] * (g - sg / cols - xhat * sgx / cols);
            }
        }
        return (dx, dgamma, dbeta);
    }
}
