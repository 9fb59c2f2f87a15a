using System.Runtime.CompilerServices;

namespace Lddm.Kernels;

/// <summary>
/// The per-element formulas of the Gaussian family, shared by the CPU kernels and the ILGPU kernels (plain
/// static float code, so the same method runs on the host and on a device).
/// </summary>
internal static class Gaussian
{
    /// <summary>y_t = ᾱ·y₀ + σ̄·ε.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Noise(float y0, float abar, float sbar, float eps) => abar * y0 + sbar * eps;

    /// <summary>y_s = cYt·y_t + cY0·ŷ₀ + σ·z.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Ddpm(float yt, float y0Hat, float coefYt, float coefY0, float sigma, float z) =>
        coefYt * yt + coefY0 * y0Hat + sigma * z;

    /// <summary>
    /// DDIM ys = ᾱ_s·ŷ₀ + σ̄_s·(y_t − ᾱ_t·ŷ₀)/σ̄_t folded into ys = cYt·y_t + cY0·ŷ₀ with cYt = σ̄_s/σ̄_t and
    /// cY0 = ᾱ_s − cYt·ᾱ_t (one division per row instead of per element).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (float CYt, float CY0) DdimCoefficients(float abarT, float sbarT, float abarS, float sbarS)
    {
        float cYt = sbarS / sbarT;
        return (cYt, abarS - cYt * abarT);
    }

    /// <summary>ŷ₀ = (y_t − σ̄·ε̂)/ᾱ folded into ŷ₀ = cYt·y_t + cEps·ε̂ with cYt = 1/ᾱ, cEps = −σ̄/ᾱ.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (float CYt, float CEps) EpsToY0Coefficients(float abar, float sbar) => (1f / abar, -sbar / abar);

    /// <summary>The stored row norm: ‖x‖ when ‖x‖ ≥ ε, else −ε (clamped; the sign tells the backward).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float StoredNorm(float norm, float epsilon) => norm >= epsilon ? norm : -epsilon;
}
