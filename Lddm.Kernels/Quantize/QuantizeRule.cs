using System.Runtime.CompilerServices;

namespace Lddm.Kernels;

/// <summary>
/// The canonical float64 arithmetic of <see cref="Backend.NearestCode"/> and <see cref="Backend.CodebookEmaUpdate"/>,
/// shared by CpuBackend, the ILGPU kernels and the references, so that both backends do the same IEEE operations in
/// the same order and return identical code indices and identical EMA state.
/// <list type="bullet">
/// <item>A vector's inverse norm is 1 / max(√(Σ_j v_j²), <see cref="NormFloor"/>) with the sum from zero in j order
/// (v_j² of a float is exact in float64), as F.normalize's clamp: a zero vector normalises to zero.</item>
/// <item>A similarity key is dot(x_n, e_c)·inv‖e_c‖, the dot summed from zero in j order of (double)x·(double)e
/// (exact products, so a fused multiply-add rounds the same as a multiply then an add).</item>
/// </list>
/// </summary>
public static class QuantizeRule
{
    /// <summary>The norm below which a vector is treated as zero (F.normalize's default eps).</summary>
    public const double NormFloor = 1e-12;

    /// <summary>Threads per group of the ILGPU nearest-code kernel (codes are strided over them).</summary>
    public const int Lanes = 64;

    /// <summary>1 / max(√s, <see cref="NormFloor"/>) given √s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double InverseNorm(double sqrtSumSquares) => 1.0 / (sqrtSumSquares > NormFloor ? sqrtSumSquares : NormFloor);

    /// <summary>
    /// True when candidate (key, id) beats the best so far (bestKey, bestId): a NaN key never wins, an unset best
    /// (bestId &lt; 0) loses to any other candidate, a larger key wins, and an equal key wins only with a lower id.
    /// This is a total order on non-NaN candidates, so any reduction order picks the same winner.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Beats(double key, int id, double bestKey, int bestId) =>
        id >= 0 && !double.IsNaN(key) && (bestId < 0 || key > bestKey || (key == bestKey && id < bestId));
}
