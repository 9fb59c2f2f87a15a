namespace Lddm.Kernels.Reference;

/// <summary>
/// Slow, obviously correct float64 versions of the Gaussian latent kernels (tests and benchmarks). y is (batch, dim)
/// row-major; coefficient arrays hold one value per sequence. Noise comes from <see cref="RngReference.Normal"/>
/// (Philox written independently of the kernels' code), element i at counter offset + i.
/// </summary>
public static class GaussianReference
{
    /// <summary>eps[i] = N(seed, stream, offset + i); yt[b,j] = abar[b]·y0[b,j] + sbar[b]·eps[b,j].</summary>
    public static (double[] Eps, double[] Yt) Noise(ReadOnlySpan<float> y0, ReadOnlySpan<float> abar, ReadOnlySpan<float> sbar,
        int batch, int dim, ulong seed, ulong stream, long offset)
    {
        var eps = RngReference.Normal(seed, stream, offset, batch * dim);
        var yt = new double[eps.Length];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < dim; j++)
            {
                int i = b * dim + j;
                yt[i] = (double)abar[b] * y0[i] + (double)sbar[b] * eps[i];
            }
        return (eps, yt);
    }

    /// <summary>ys = coefYt[b]·yt + coefY0[b]·y0Hat + sigma[b]·z, z[i] = N(seed, stream, offset + i).</summary>
    public static double[] DdpmStep(ReadOnlySpan<float> yt, ReadOnlySpan<float> y0Hat, ReadOnlySpan<float> coefYt,
        ReadOnlySpan<float> coefY0, ReadOnlySpan<float> sigma, int batch, int dim, ulong seed, ulong stream, long offset)
    {
        var z = RngReference.Normal(seed, stream, offset, batch * dim);
        var ys = new double[z.Length];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < dim; j++)
            {
                int i = b * dim + j;
                ys[i] = (double)coefYt[b] * yt[i] + (double)coefY0[b] * y0Hat[i] + (double)sigma[b] * z[i];
            }
        return ys;
    }

    /// <summary>ys = abarS·y0Hat + sbarS·(yt − abarT·y0Hat)/sbarT, literally.</summary>
    public static double[] DdimStep(ReadOnlySpan<float> yt, ReadOnlySpan<float> y0Hat, ReadOnlySpan<float> abarT,
        ReadOnlySpan<float> sbarT, ReadOnlySpan<float> abarS, ReadOnlySpan<float> sbarS, int batch, int dim)
    {
        var ys = new double[batch * dim];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < dim; j++)
            {
                int i = b * dim + j;
                double epsHat = (yt[i] - (double)abarT[b] * y0Hat[i]) / sbarT[b];
                ys[i] = (double)abarS[b] * y0Hat[i] + (double)sbarS[b] * epsHat;
            }
        return ys;
    }

    /// <summary>y0Hat = (yt − sbar·epsHat)/abar, literally.</summary>
    public static double[] EpsToY0(ReadOnlySpan<float> yt, ReadOnlySpan<float> epsHat, ReadOnlySpan<float> abar,
        ReadOnlySpan<float> sbar, int batch, int dim)
    {
        var y0 = new double[batch * dim];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < dim; j++)
            {
                int i = b * dim + j;
                y0[i] = (yt[i] - (double)sbar[b] * epsHat[i]) / abar[b];
            }
        return y0;
    }

    /// <summary>y[r,c] = scale[r]·x[r,c].</summary>
    public static double[] RowScale(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, int rows, int cols)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                y[r * cols + c] = (double)scale[r] * x[r * cols + c];
            }
        return y;
    }

    /// <summary>Returns dx0 + scale·dy and dscale0 + Σ_c dy·x (the starting values are the prefill).</summary>
    public static (double[] Dx, double[] DScale) RowScaleBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x,
        ReadOnlySpan<float> scale, int rows, int cols, ReadOnlySpan<float> dx0, ReadOnlySpan<float> dscale0)
    {
        var dx = ToDouble(dx0);
        var dscale = ToDouble(dscale0);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                dx[i] += (double)scale[r] * dy[i];
                dscale[r] += (double)dy[i] * x[i];
            }
        return (dx, dscale);
    }

    /// <summary>y[r] = x[r]/max(‖x[r]‖, ε); norms[r] = ‖x[r]‖ when ‖x[r]‖ ≥ ε, else −ε (the kernel's convention).</summary>
    public static (double[] Y, double[] Norms) RowL2Normalize(ReadOnlySpan<float> x, int rows, int cols, double epsilon)
    {
        var y = new double[rows * cols];
        var norms = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double sq = 0;
            for (int c = 0; c < cols; c++)
            {
                sq += (double)x[r * cols + c] * x[r * cols + c];
            }
            double norm = Math.Sqrt(sq), d = Math.Max(norm, epsilon);
            norms[r] = norm >= epsilon ? norm : -epsilon;
            for (int c = 0; c < cols; c++)
            {
                y[r * cols + c] = x[r * cols + c] / d;
            }
        }
        return (y, norms);
    }

    /// <summary>
    /// Returns dx0 + Jᵀ·dy for y = x/max(‖x‖, ε), computed from x: J = (I − y yᵀ)/‖x‖ when ‖x‖ ≥ ε, I/ε otherwise.
    /// </summary>
    public static double[] RowL2NormalizeBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int rows, int cols,
        double epsilon, ReadOnlySpan<float> dx0)
    {
        var (y, norms) = RowL2Normalize(x, rows, cols, epsilon);
        var dx = ToDouble(dx0);
        for (int r = 0; r < rows; r++)
        {
            bool clamped = norms[r] < 0;
            double d = Math.Abs(norms[r]), dot = 0;
            for (int c = 0; c < cols; c++)
            {
                dot += y[r * cols + c] * dy[r * cols + c];
            }
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                dx[i] += clamped ? dy[i] / d : (dy[i] - y[i] * dot) / d;
            }
        }
        return dx;
    }

    private static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var d = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            d[i] = values[i];
        }
        return d;
    }
}
