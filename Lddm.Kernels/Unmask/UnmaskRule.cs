using System.Runtime.CompilerServices;

namespace Lddm.Kernels;

/// <summary>
/// The canonical float64 arithmetic of <see cref="Backend.UnmaskStep"/>, shared by CpuBackend, the ILGPU kernel
/// and the reference so that they add the same doubles in the same order. A row's K real columns are split into
/// <see cref="Lanes"/> contiguous chunks of ⌈K / Lanes⌉ (the last ones may be short or empty); chunk l's weights
/// w_j = exp((l_j − max)·(1/τ)) are summed from zero in id order into S_l; the chunk prefixes P_0 = 0,
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

    /// <summary>1/τ in float64, computed once per call: the weights multiply by it (a multiply, not a divide, per logit).</summary>
    public static double InverseTemperature(float temperature) => 1.0 / temperature;

    /// <summary>
    /// w = exp((x − max)·(1/τ)) in float64 with <see cref="Exp"/>; every weight is 1 when the row max is −∞ (all real
    /// logits −∞: uniform).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Weight(float x, float max, double inverseTemperature) =>
        max == float.NegativeInfinity ? 1.0 : Exp(((double)x - max) * inverseTemperature);

    /// <summary>Below this exp underflows past the normal range: the weight is 0 (irrelevant to any draw).</summary>
    public const double ExpFloor = -708.0;

    /// <summary>Round-to-nearest shifter: (y + 1.5·2⁵²) − 1.5·2⁵² is y rounded to an integer, with plain adds.</summary>
    public const double Shifter = 6755399441055744.0;

    public const double Log2E = 1.4426950408889634, Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10;

    /// <summary>1/k! for k = 12 … 2: the Taylor coefficients of the Horner scheme (1 and 1 are added separately).</summary>
    public const double C12 = 2.08767569878680989792e-09, C11 = 2.50521083854417187751e-08, C10 = 2.75573192239858906526e-07,
        C9 = 2.75573192239858906526e-06, C8 = 2.48015873015873015873e-05, C7 = 1.98412698412698412698e-04,
        C6 = 1.38888888888888888889e-03, C5 = 8.33333333333333333333e-03, C4 = 4.16666666666666666667e-02,
        C3 = 1.66666666666666666667e-01, C2 = 0.5;

    /// <summary>
    /// exp(x) for x ≤ 0 (and NaN) in float64 from IEEE adds and multiplies only (no FMA, no library call), so the
    /// scalar form here and the Vector512 form in CpuBackend round identically: n = round(x·log₂e) by the shifter,
    /// r = (x − n·ln2_hi) − n·ln2_lo (Cody–Waite; n·ln2_hi is exact), exp(r) by a degree-12 Taylor–Horner
    /// polynomial (|r| ≤ ln2/2, error a few ulp), times 2ⁿ built from the exponent bits. x &lt; −708 gives 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Exp(double x)
    {
        if (x < ExpFloor)
        {
            return 0.0;
        }
        double n = x * Log2E + Shifter - Shifter;
        double r = x - n * Ln2Hi - n * Ln2Lo;
        double p = C12;
        p = p * r + C11;
        p = p * r + C10;
        p = p * r + C9;
        p = p * r + C8;
        p = p * r + C7;
        p = p * r + C6;
        p = p * r + C5;
        p = p * r + C4;
        p = p * r + C3;
        p = p * r + C2;
        p = p * r + 1.0;
        p = p * r + 1.0;
        return p * BitConverter.Int64BitsToDouble(((long)n + 1023) << 52);
    }

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
