namespace Lddm.Kernels;

/// <summary>
/// The Gaussian latent channel of LDDM: forward noising y_t = ᾱ·y₀ + σ̄·ε, the DDPM and DDIM reverse steps, the
/// ε → ŷ₀ conversion, and two row-wise helpers (scale by a per-row factor, L2 normalisation). y is viewed as
/// (batch, dim) row-major; every coefficient buffer holds one float per sequence b. Noise is counter-based:
/// element i uses <see cref="Philox.Normal"/>(seed, stream, offset + i), the same number
/// <see cref="FillNormal"/> writes at its element i.
/// </summary>
public abstract partial class Backend
{
    /// <summary>
    /// Forward noising: eps[i] = <see cref="Philox.Normal"/>(seed, stream, offset + i) (bit-identical to
    /// <see cref="FillNormal"/>'s element i) and yt[b,j] = abar[b]·y0[b,j] + sbar[b]·eps[b,j].
    /// y0, eps, yt: (batch, dim); abar, sbar: (batch). Outputs must not alias y0.
    /// </summary>
    public void GaussianNoise(DeviceBuffer<float> y0, DeviceBuffer<float> abar, DeviceBuffer<float> sbar, int batch, int dim,
        ulong seed, ulong stream, long offset, DeviceBuffer<float> eps, DeviceBuffer<float> yt)
    {
        const string k = nameof(GaussianNoise);
        var (n, act, vec) = GaussianShapes(k, batch, dim);
        CheckOffset(k, offset);
        Check.Buffer(this, y0, n, k, nameof(y0), act);
        Check.Buffer(this, abar, batch, k, nameof(abar), vec);
        Check.Buffer(this, sbar, batch, k, nameof(sbar), vec);
        Check.Buffer(this, eps, n, k, nameof(eps), act);
        Check.Buffer(this, yt, n, k, nameof(yt), act);
        GaussianNoiseCore(y0, abar, sbar, batch, dim, seed, stream, offset, eps, yt);
    }

    /// <summary>
    /// Ancestral (DDPM) step: ys[b,j] = coefYt[b]·yt[b,j] + coefY0[b]·y0Hat[b,j] + sigma[b]·z[b,j] with
    /// z[i] = <see cref="Philox.Normal"/>(seed, stream, offset + i). yt, y0Hat, ys: (batch, dim); coefYt, coefY0,
    /// sigma: (batch). ys may alias yt or y0Hat.
    /// </summary>
    public void GaussianDdpmStep(DeviceBuffer<float> yt, DeviceBuffer<float> y0Hat, DeviceBuffer<float> coefYt,
        DeviceBuffer<float> coefY0, DeviceBuffer<float> sigma, int batch, int dim, ulong seed, ulong stream, long offset,
        DeviceBuffer<float> ys)
    {
        const string k = nameof(GaussianDdpmStep);
        var (n, act, vec) = GaussianShapes(k, batch, dim);
        CheckOffset(k, offset);
        Check.Buffer(this, yt, n, k, nameof(yt), act);
        Check.Buffer(this, y0Hat, n, k, nameof(y0Hat), act);
        Check.Buffer(this, coefYt, batch, k, nameof(coefYt), vec);
        Check.Buffer(this, coefY0, batch, k, nameof(coefY0), vec);
        Check.Buffer(this, sigma, batch, k, nameof(sigma), vec);
        Check.Buffer(this, ys, n, k, nameof(ys), act);
        GaussianDdpmStepCore(yt, y0Hat, coefYt, coefY0, sigma, batch, dim, seed, stream, offset, ys);
    }

    /// <summary>
    /// Deterministic DDIM step (no randomness): ys = abarS[b]·y0Hat + sbarS[b]·(yt − abarT[b]·y0Hat)/sbarT[b].
    /// yt, y0Hat, ys: (batch, dim); abarT, sbarT, abarS, sbarS: (batch). ys may alias yt or y0Hat.
    /// </summary>
    public void GaussianDdimStep(DeviceBuffer<float> yt, DeviceBuffer<float> y0Hat, DeviceBuffer<float> abarT,
        DeviceBuffer<float> sbarT, DeviceBuffer<float> abarS, DeviceBuffer<float> sbarS, int batch, int dim,
        DeviceBuffer<float> ys)
    {
        const string k = nameof(GaussianDdimStep);
        var (n, act, vec) = GaussianShapes(k, batch, dim);
        Check.Buffer(this, yt, n, k, nameof(yt), act);
        Check.Buffer(this, y0Hat, n, k, nameof(y0Hat), act);
        Check.Buffer(this, abarT, batch, k, nameof(abarT), vec);
        Check.Buffer(this, sbarT, batch, k, nameof(sbarT), vec);
        Check.Buffer(this, abarS, batch, k, nameof(abarS), vec);
        Check.Buffer(this, sbarS, batch, k, nameof(sbarS), vec);
        Check.Buffer(this, ys, n, k, nameof(ys), act);
        GaussianDdimStepCore(yt, y0Hat, abarT, sbarT, abarS, sbarS, batch, dim, ys);
    }

    /// <summary>
    /// ε-prediction to ŷ₀: y0Hat[b,j] = (yt[b,j] − sbar[b]·epsHat[b,j])/abar[b].
    /// yt, epsHat, y0Hat: (batch, dim); abar, sbar: (batch). y0Hat may alias yt or epsHat.
    /// </summary>
    public void GaussianEpsToY0(DeviceBuffer<float> yt, DeviceBuffer<float> epsHat, DeviceBuffer<float> abar,
        DeviceBuffer<float> sbar, int batch, int dim, DeviceBuffer<float> y0Hat)
    {
        const string k = nameof(GaussianEpsToY0);
        var (n, act, vec) = GaussianShapes(k, batch, dim);
        Check.Buffer(this, yt, n, k, nameof(yt), act);
        Check.Buffer(this, epsHat, n, k, nameof(epsHat), act);
        Check.Buffer(this, abar, batch, k, nameof(abar), vec);
        Check.Buffer(this, sbar, batch, k, nameof(sbar), vec);
        Check.Buffer(this, y0Hat, n, k, nameof(y0Hat), act);
        GaussianEpsToY0Core(yt, epsHat, abar, sbar, batch, dim, y0Hat);
    }

    /// <summary>y[r,c] = scale[r]·x[r,c]; x, y: (rows, cols); scale: (rows). y may alias x.</summary>
    public void RowScale(DeviceBuffer<float> x, DeviceBuffer<float> scale, int rows, int cols, DeviceBuffer<float> y)
    {
        const string k = nameof(RowScale);
        var (n, mat, vec) = RowShapes(k, rows, cols);
        Check.Buffer(this, x, n, k, nameof(x), mat);
        Check.Buffer(this, scale, rows, k, nameof(scale), vec);
        Check.Buffer(this, y, n, k, nameof(y), mat);
        RowScaleCore(x, scale, rows, cols, y);
    }

    /// <summary>
    /// Backward of <see cref="RowScale"/>, ACCUMULATING into each gradient that is not null:
    /// dx[r,c] += scale[r]·dy[r,c]; dscale[r] += Σ_c dy[r,c]·x[r,c]. dy, x, dx: (rows, cols); scale, dscale: (rows).
    /// Gradients must not alias the inputs or each other.
    /// </summary>
    public void RowScaleBackward(DeviceBuffer<float> dy, DeviceBuffer<float> x, DeviceBuffer<float> scale, int rows, int cols,
        DeviceBuffer<float>? dx, DeviceBuffer<float>? dscale)
    {
        const string k = nameof(RowScaleBackward);
        var (n, mat, vec) = RowShapes(k, rows, cols);
        Check.Buffer(this, dy, n, k, nameof(dy), mat);
        Check.Buffer(this, x, n, k, nameof(x), mat);
        Check.Buffer(this, scale, rows, k, nameof(scale), vec);
        if (dx is not null)
        {
            Check.Buffer(this, dx, n, k, nameof(dx), mat);
        }
        if (dscale is not null)
        {
            Check.Buffer(this, dscale, rows, k, nameof(dscale), vec);
        }
        RowScaleBackwardCore(dy, x, scale, rows, cols, dx, dscale);
    }

    /// <summary>
    /// Row L2 normalisation: y[r,c] = x[r,c]/max(‖x[r]‖, ε). x, y: (rows, cols); norms: (rows) receives the
    /// denominator d[r] = max(‖x[r]‖, ε), stored NEGATED (−ε) when the clamp is active (‖x[r]‖ &lt; ε), so
    /// <see cref="RowL2NormalizeBackward"/> knows that row's Jacobian is I/ε. epsilon must be finite and positive.
    /// y may alias x.
    /// </summary>
    public void RowL2Normalize(DeviceBuffer<float> x, int rows, int cols, float epsilon, DeviceBuffer<float> y,
        DeviceBuffer<float> norms)
    {
        const string k = nameof(RowL2Normalize);
        var (n, mat, vec) = RowShapes(k, rows, cols);
        Check.Finite(epsilon, k, nameof(epsilon));
        if (epsilon <= 0f)
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"{k}: 'epsilon' must be positive but was {epsilon}.");
        }
        Check.Buffer(this, x, n, k, nameof(x), mat);
        Check.Buffer(this, y, n, k, nameof(y), mat);
        Check.Buffer(this, norms, rows, k, nameof(norms), vec);
        RowL2NormalizeCore(x, rows, cols, epsilon, y, norms);
    }

    /// <summary>
    /// Backward of <see cref="RowL2Normalize"/>, ACCUMULATING: with d = |norms[r]|,
    /// dx[r] += (dy[r] − y[r]·⟨y[r], dy[r]⟩)/d when norms[r] &gt; 0, and dx[r] += dy[r]/d for a clamped row
    /// (norms[r] &lt; 0). dy, y, dx: (rows, cols); norms: (rows), as written by the forward. dx must not alias dy or y.
    /// </summary>
    public void RowL2NormalizeBackward(DeviceBuffer<float> dy, DeviceBuffer<float> y, DeviceBuffer<float> norms, int rows,
        int cols, DeviceBuffer<float> dx)
    {
        const string k = nameof(RowL2NormalizeBackward);
        var (n, mat, vec) = RowShapes(k, rows, cols);
        Check.Buffer(this, dy, n, k, nameof(dy), mat);
        Check.Buffer(this, y, n, k, nameof(y), mat);
        Check.Buffer(this, norms, rows, k, nameof(norms), vec);
        Check.Buffer(this, dx, n, k, nameof(dx), mat);
        RowL2NormalizeBackwardCore(dy, y, norms, rows, cols, dx);
    }

    protected abstract void GaussianNoiseCore(DeviceBuffer<float> y0, DeviceBuffer<float> abar, DeviceBuffer<float> sbar,
        int batch, int dim, ulong seed, ulong stream, long offset, DeviceBuffer<float> eps, DeviceBuffer<float> yt);

    protected abstract void GaussianDdpmStepCore(DeviceBuffer<float> yt, DeviceBuffer<float> y0Hat, DeviceBuffer<float> coefYt,
        DeviceBuffer<float> coefY0, DeviceBuffer<float> sigma, int batch, int dim, ulong seed, ulong stream, long offset,
        DeviceBuffer<float> ys);

    protected abstract void GaussianDdimStepCore(DeviceBuffer<float> yt, DeviceBuffer<float> y0Hat, DeviceBuffer<float> abarT,
        DeviceBuffer<float> sbarT, DeviceBuffer<float> abarS, DeviceBuffer<float> sbarS, int batch, int dim, DeviceBuffer<float> ys);

    protected abstract void GaussianEpsToY0Core(DeviceBuffer<float> yt, DeviceBuffer<float> epsHat, DeviceBuffer<float> abar,
        DeviceBuffer<float> sbar, int batch, int dim, DeviceBuffer<float> y0Hat);

    protected abstract void RowScaleCore(DeviceBuffer<float> x, DeviceBuffer<float> scale, int rows, int cols, DeviceBuffer<float> y);

    protected abstract void RowScaleBackwardCore(DeviceBuffer<float> dy, DeviceBuffer<float> x, DeviceBuffer<float> scale,
        int rows, int cols, DeviceBuffer<float>? dx, DeviceBuffer<float>? dscale);

    protected abstract void RowL2NormalizeCore(DeviceBuffer<float> x, int rows, int cols, float epsilon, DeviceBuffer<float> y,
        DeviceBuffer<float> norms);

    protected abstract void RowL2NormalizeBackwardCore(DeviceBuffer<float> dy, DeviceBuffer<float> y, DeviceBuffer<float> norms,
        int rows, int cols, DeviceBuffer<float> dx);

    private static (int N, string Activation, string PerSequence) GaussianShapes(string k, int batch, int dim)
    {
        Check.Positive(batch, k, nameof(batch));
        Check.Positive(dim, k, nameof(dim));
        int n = Check.Elements(k, batch, dim);
        return (n, $"(batch {batch}, dim {dim})", $"(batch {batch})");
    }

    private static (int N, string Matrix, string PerRow) RowShapes(string k, int rows, int cols)
    {
        Check.Positive(rows, k, nameof(rows));
        Check.Positive(cols, k, nameof(cols));
        int n = Check.Elements(k, rows, cols);
        return (n, $"(rows {rows}, cols {cols})", $"(rows {rows})");
    }
}
