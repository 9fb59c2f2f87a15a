namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// Per row r of x (rows, cols): μ_r = mean(x[r, :]), σ²_r = mean((x[r, :] − μ_r)²) (biased, like PyTorch),
    /// rstd_r = 1/√(σ²_r + ε), y[r, c] = (x[r, c] − μ_r)·rstd_r·γ[c] + β[c]. gamma and beta (cols) are each
    /// optional (null: γ = 1, β = 0). Writes every element of y (rows, cols), mean (rows) and rstd (rows), the
    /// last two saved for <see cref="LayerNormBackward"/>. y may alias x.
    /// </summary>
    public void LayerNormForward(DeviceBuffer<float> x, DeviceBuffer<float>? gamma, DeviceBuffer<float>? beta,
        int rows, int cols, float epsilon, DeviceBuffer<float> y, DeviceBuffer<float> mean, DeviceBuffer<float> rstd)
    {
        const string k = nameof(LayerNormForward);
        CheckLayerNormShapes(k, x, gamma, rows, cols);
        if (!(epsilon > 0) || !float.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon,
                $"{k}: 'epsilon' must be positive and finite but was {epsilon.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        }
        if (beta is not null)
        {
            Check.Buffer(this, beta, cols, k, nameof(beta), $"({cols})");
        }
        Check.Buffer(this, y, (long)rows * cols, k, nameof(y), $"({rows}, {cols})");
        Check.Buffer(this, mean, rows, k, nameof(mean), $"({rows})");
        Check.Buffer(this, rstd, rows, k, nameof(rstd), $"({rows})");
        LayerNormForwardCore(x, gamma, beta, rows, cols, epsilon, y, mean, rstd);
    }

    /// <summary>
    /// Backward of <see cref="LayerNormForward"/> given its saved mean and rstd (rows). With x̂ = (x − μ)·rstd and
    /// g = dy·γ (γ = 1 when gamma is null), ACCUMULATES
    /// dx[r, c] += rstd_r·(g[r, c] − mean_c(g[r, :]) − x̂[r, c]·mean_c(g[r, :]·x̂[r, :])),
    /// dgamma[c] += Σ_r dy[r, c]·x̂[r, c] and dbeta[c] += Σ_r dy[r, c] (each skipped when null).
    /// Shapes: x, dy, dx (rows, cols); gamma, dgamma, dbeta (cols). dx must not alias an input.
    /// </summary>
    public void LayerNormBackward(DeviceBuffer<float> x, DeviceBuffer<float>? gamma, DeviceBuffer<float> mean,
        DeviceBuffer<float> rstd, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx,
        DeviceBuffer<float>? dgamma, DeviceBuffer<float>? dbeta)
    {
        const string k = nameof(LayerNormBackward);
        CheckLayerNormShapes(k, x, gamma, rows, cols);
        Check.Buffer(this, mean, rows, k, nameof(mean), $"({rows})");
        Check.Buffer(this, rstd, rows, k, nameof(rstd), $"({rows})");
        Check.Buffer(this, dy, (long)rows * cols, k, nameof(dy), $"({rows}, {cols})");
        Check.Buffer(this, dx, (long)rows * cols, k, nameof(dx), $"({rows}, {cols})");
        if (dgamma is not null)
        {
            Check.Buffer(this, dgamma, cols, k, nameof(dgamma), $"({cols})");
        }
        if (dbeta is not null)
        {
            Check.Buffer(this, dbeta, cols, k, nameof(dbeta), $"({cols})");
        }
        LayerNormBackwardCore(x, gamma, mean, rstd, dy, rows, cols, dx, dgamma, dbeta);
    }

    protected abstract void LayerNormForwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? gamma,
        DeviceBuffer<float>? beta, int rows, int cols, float epsilon, DeviceBuffer<float> y, DeviceBuffer<float> mean,
        DeviceBuffer<float> rstd);

    protected abstract void LayerNormBackwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? gamma,
        DeviceBuffer<float> mean, DeviceBuffer<float> rstd, DeviceBuffer<float> dy, int rows, int cols,
        DeviceBuffer<float> dx, DeviceBuffer<float>? dgamma, DeviceBuffer<float>? dbeta);

    private void CheckLayerNormShapes(string k, DeviceBuffer<float> x, DeviceBuffer<float>? gamma, int rows, int cols)
    {
        Check.Positive(rows, k, nameof(rows));
        Check.Positive(cols, k, nameof(cols));
        int n = Check.Elements(k, rows, cols);
        Check.Buffer(this, x, n, k, nameof(x), $"({rows}, {cols})");
        if (gamma is not null)
        {
            Check.Buffer(this, gamma, cols, k, nameof(gamma), $"({cols})");
        }
    }
}
