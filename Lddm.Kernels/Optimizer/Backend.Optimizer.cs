using System.Globalization;

namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// One AdamW step over n parameters, in torch.optim.AdamW's exact order:
    /// param ← param·(1 − lr·wd) (decoupled weight decay first); m ← β₁·m + (1 − β₁)·g; v ← β₂·v + (1 − β₂)·g²;
    /// param ← param − (lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε).
    /// That is param −= lr·(m̂/(√v̂ + ε) + wd·param) with wd applied to the pre-update param. param, grad, m, v
    /// all have shape (n); param, m and v are updated in place. The bias corrections are computed on the host in
    /// float64 from <see cref="AdamWParameters.Step"/>.
    /// </summary>
    public void AdamWStep(DeviceBuffer<float> param, DeviceBuffer<float> grad, DeviceBuffer<float> m, DeviceBuffer<float> v,
        in AdamWParameters p)
    {
        const string k = nameof(AdamWStep);
        Check.Buffer(this, param, param?.Length ?? 0, k, nameof(param), "(n)");
        string shape = string.Create(CultureInfo.InvariantCulture, $"({param!.Length})");
        Check.Buffer(this, grad, param.Length, k, nameof(grad), shape);
        Check.Buffer(this, m, param.Length, k, nameof(m), shape);
        Check.Buffer(this, v, param.Length, k, nameof(v), shape);
        p.Validate(k);
        if (param.Length > 0)
        {
            AdamWStepCore(param, grad, m, v, new AdamWCoefficients(p));
        }
    }

    /// <summary>ema ← decay·ema + (1 − decay)·param, for ema and param of shape (n), decay ∈ [0, 1].</summary>
    public void EmaUpdate(DeviceBuffer<float> ema, DeviceBuffer<float> param, float decay)
    {
        const string k = nameof(EmaUpdate);
        if (!(decay is >= 0f and <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(decay), decay,
                $"{k}: 'decay' must be in [0, 1] but was {decay.ToString(CultureInfo.InvariantCulture)}.");
        }
        Check.Buffer(this, ema, ema?.Length ?? 0, k, nameof(ema), "(n)");
        Check.Buffer(this, param, ema!.Length, k, nameof(param), string.Create(CultureInfo.InvariantCulture, $"({ema.Length})"));
        if (ema.Length > 0)
        {
            EmaUpdateCore(ema, param, decay);
        }
    }

    /// <summary>
    /// result[0] = Σ_b Σ_i grads[b][i]², over any number of buffers of any lengths; result has shape (1).
    /// Computed on the device (no host sync on a GPU) and deterministic.
    /// </summary>
    public void GradNormSquared(IReadOnlyList<DeviceBuffer<float>> grads, DeviceBuffer<float> result)
    {
        const string k = nameof(GradNormSquared);
        CheckGradList(k, grads);
        Check.Buffer(this, result, 1, k, nameof(result), "(1)");
        GradNormSquaredCore(grads, result);
    }

    /// <summary>
    /// grads[b][i] ← grads[b][i]·min(1, maxNorm / (√normSquared[0] + 1e-6)): global-norm clipping, reading the
    /// squared norm (e.g. from <see cref="GradNormSquared"/>) on the device. normSquared has shape (1); maxNorm &gt; 0.
    /// </summary>
    public void ClipByNorm(IReadOnlyList<DeviceBuffer<float>> grads, DeviceBuffer<float> normSquared, float maxNorm)
    {
        const string k = nameof(ClipByNorm);
        if (!(float.IsFinite(maxNorm) && maxNorm > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm,
                $"{k}: 'maxNorm' must be finite and > 0 but was {maxNorm.ToString(CultureInfo.InvariantCulture)}.");
        }
        CheckGradList(k, grads);
        Check.Buffer(this, normSquared, 1, k, nameof(normSquared), "(1)");
        ClipByNormCore(grads, normSquared, maxNorm);
    }

    protected abstract void AdamWStepCore(DeviceBuffer<float> param, DeviceBuffer<float> grad, DeviceBuffer<float> m,
        DeviceBuffer<float> v, AdamWCoefficients c);

    protected abstract void EmaUpdateCore(DeviceBuffer<float> ema, DeviceBuffer<float> param, float decay);

    protected abstract void GradNormSquaredCore(IReadOnlyList<DeviceBuffer<float>> grads, DeviceBuffer<float> result);

    protected abstract void ClipByNormCore(IReadOnlyList<DeviceBuffer<float>> grads, DeviceBuffer<float> normSquared, float maxNorm);

    private void CheckGradList(string k, IReadOnlyList<DeviceBuffer<float>> grads)
    {
        if (grads is null)
        {
            throw new ArgumentNullException(nameof(grads), $"{k}: 'grads' is null.");
        }
        for (int b = 0; b < grads.Count; b++)
        {
            Check.Buffer(this, grads[b], grads[b]?.Length ?? 0, k, $"grads[{b}]", "(n)");
        }
    }
}
