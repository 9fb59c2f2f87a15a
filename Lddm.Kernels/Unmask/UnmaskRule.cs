using System.Runtime.CompilerServices;

namespace Lddm.Kernels;

/// <summary>
/// The canonical float64 arithmetic of <see cref="Backend.UnmaskStep"/>, shared by CpuBackend, the ILGPU kernel
/// and the reference so that they add the same doubles in the same order. A row's K real columns are split into
/// <see cref="Lanes"/> contiguous chunks of ⌈K / Lanes⌉ (the last ones may be short or empty); chunk l's weights
/// w_j = exp((l_j − max)/τ) are summed from zero in id order into S_l; the chunk prefixes P_0 = 0,
/// P_{l+1} = P_l + S_l are a left fold, Z = P_Lanes; and for j in chunk l, CDF_j = P_l + (w_first + … + w_j), the
/// inner sum again from zero. So CDF is non-decreasing in j, CDF at the end of chunk l is exactly P_{l+1}, and a
/// group of <see cref="Lanes"/> threads can find the chunk first and then scan only that chunk.
/// </summary>
public static class UnmaskRule
{
    /// <summary>Chunks per row (and threads per group of the ILGPU kernel).</summary>
    public const int Lanes = 32;

    /// <summary>Columns per chunk for K real tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ChunkSize(int k) => (k + Lanes - 1) / Lanes;

    /// <summary>a = (α_s − α_t)/(1 − α_t) in Posterior mode (the chance a masked position unmasks), 1 otherwise.</summary>
    public static double UnmaskProbability(double alphaT, double alphaS, UnmaskMode mode) =>
        mode == UnmaskMode.Posterior ? (alphaS - alphaT) / (1 - alphaT) : 1.0;

    /// <summary>NaN-ignoring max (a NaN candidate never wins): order-independent up to the sign of zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Max(float m, float x) => x > m ? x : m;

    /// <summary>w = exp((x − max)/τ) in float64; every weight is 1 when the row max is −∞ (all real logits −∞: uniform).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Weight(float x, float max, double temperature) =>
        max == float.NegativeInfinity ? 1.0 : Math.Exp(((double)x - max) / temperature);

    /// <summary>Whether the CDF value <paramref name="cdf"/> is past the draw: cdf &gt; threshold, or it reached the cap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Hit(double cdf, double threshold, double cap) => cdf > threshold || cdf >= cap;

    /// <summary>The inverse-CDF threshold (u / a)·Z in the unnormalised weights.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Threshold(double u, double unmaskProbability, double z) => u / unmaskProbability * z;

    /// <summary>The cap: Fill stops where the CDF reaches Z (rounding guard); Posterior never caps (it falls back to MASK).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Cap(bool fill, double z) => fill ? z : double.PositiveInfinity;
}
