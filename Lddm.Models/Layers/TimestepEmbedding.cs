using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// DiT/MDLM time conditioning: raw t ∈ [0, 1] → 256 sinusoidal features [cos(t·ωᵢ), sin(t·ωᵢ)], ωᵢ = 10⁴^(−i/128),
/// i &lt; 128 → Linear → SiLU → Linear to the conditioning size (§2.2). Weights N(0, 0.02²) as DiT's t_embedder.
/// </summary>
public sealed class TimestepEmbedding : Module
{
    /// <summary>Number of sinusoidal features (128 cos + 128 sin).</summary>
    public const int Frequencies = 256;

    /// <summary>The longest period of the features.</summary>
    public const double MaxPeriod = 10_000;

    public TimestepEmbedding(Backend backend, int condDim)
        : base(backend)
    {
        CondDim = ConfigCheck.Positive(condDim, nameof(TimestepEmbedding), nameof(condDim));
        Fc1 = AddModule("fc1", new Linear(backend, Frequencies, condDim, weightInit: Init.Normal(0.02f)));
        Fc2 = AddModule("fc2", new Linear(backend, condDim, condDim, weightInit: Init.Normal(0.02f)));
    }

    public int CondDim { get; }

    public Linear Fc1 { get; }

    public Linear Fc2 { get; }

    /// <summary>t (B) → c (B, condDim). The features are computed on the host in float64 and uploaded.</summary>
    public Tensor Forward(ReadOnlySpan<float> t)
    {
        if (t.Length == 0)
        {
            throw new ArgumentException($"{nameof(TimestepEmbedding)}: the batch of times is empty.", nameof(t));
        }
        var features = Tensor.FromArray(Backend, SinusoidalFeatures(t), t.Length, Frequencies);
        return Fc2.Forward(Fc1.Forward(features, Activation.Silu));
    }

    /// <summary>(B, 256) row-major: row b = [cos(t_b·ω₀..ω₁₂₇), sin(t_b·ω₀..ω₁₂₇)].</summary>
    public static float[] SinusoidalFeatures(ReadOnlySpan<float> t)
    {
        const int half = Frequencies / 2;
        var f = new float[t.Length * Frequencies];
        for (int b = 0; b < t.Length; b++)
        {
            if (!float.IsFinite(t[b]))
            {
                throw new ArgumentException($"{nameof(TimestepEmbedding)}: t[{b}] = {t[b]} is not finite.", nameof(t));
            }
            for (int i = 0; i < half; i++)
            {
                double angle = t[b] * Math.Exp(-Math.Log(MaxPeriod) * i / half);
                f[b * Frequencies + i] = (float)Math.Cos(angle);
                f[b * Frequencies + half + i] = (float)Math.Sin(angle);
            }
        }
        return f;
    }
}
