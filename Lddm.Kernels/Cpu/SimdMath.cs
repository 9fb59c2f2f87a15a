using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lddm.Kernels.Cpu;

/// <summary>Vectorised transcendental functions for the CPU kernels.</summary>
internal static class SimdMath
{
    /// <summary>
    /// exp for 16 floats (Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial, 2ⁿ by exponent bits);
    /// about 1 ulp. x below −87.3 (including −∞) gives exactly 0; x is clamped at 88.7 (softmax only feeds x ≤ 0).
    /// Shared by every CPU kernel that needs exp (softmax, cross-entropy, attention). Written out because the BCL's Vector512.Exp widens to double and is JIT-compiled at tier 0 first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var underflow = Vector512.LessThan(x, Vector512.Create(-87.33654f));
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(-87.33654f)), Vector512.Create(88.72283f));
        var n = Vector512.Round(x * 1.44269504088896341f);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.9875691500e-4f), r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        var scaled = (p.AsInt32() + (Vector512.ConvertToInt32(n) << 23)).AsSingle();
        return Vector512.ConditionalSelect(underflow, Vector512<float>.Zero, scaled);
    }

    /// <summary>The Vector256 twin of <see cref="Exp(Vector512{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var underflow = Vector256.LessThan(x, Vector256.Create(-87.33654f));
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.33654f)), Vector256.Create(88.72283f));
        var n = Vector256.Round(x * 1.44269504088896341f);
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(1.9875691500e-4f), r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        var scaled = (p.AsInt32() + (Vector256.ConvertToInt32(n) << 23)).AsSingle();
        return Vector256.ConditionalSelect(underflow, Vector256<float>.Zero, scaled);
    }

    /// <summary>
    /// σ(t) = 1/(1 + exp(−t)) for 16 floats without a division: rcp14 (relative error 2⁻¹⁴) refined by one Newton
    /// step (2⁻²⁸) where AVX-512F is available, a true division otherwise. Below t = −87, σ(−87) (no subnormals).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sigmoid(Vector512<float> t)
    {
        // e^{-t} capped at e^87: below t = −87 the true σ is under 1.6e-38, and 1/(1 + e^{-t}) would be a subnormal
        // (rcp14 of up to 3.4e38), which costs a microcode assist per operation — GELU(x·W + b) with pre-activations
        // past −9 ran 5× slower than its GEMM. σ(−87) ≈ 1.6e-38 is returned instead: an absolute error below 2e-38.
        var d = Vector512<float>.One + Exp(Vector512.Min(-t, Vector512.Create(87f)));
        if (!Avx512F.IsSupported)
        {
            return Vector512<float>.One / d;
        }
        var r = Avx512F.Reciprocal14(d);
        return Vector512.FusedMultiplyAdd(r, Vector512.FusedMultiplyAdd(-d, r, Vector512<float>.One), r);
    }

    /// <summary>The Vector256 twin of <see cref="Sigmoid(Vector512{float})"/> (rcp14 needs AVX-512VL).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> t)
    {
        var d = Vector256<float>.One + Exp(Vector256.Min(-t, Vector256.Create(87f)));
        if (!Avx512F.VL.IsSupported)
        {
            return Vector256<float>.One / d;
        }
        var r = Avx512F.VL.Reciprocal14(d);
        return Vector256.FusedMultiplyAdd(r, Vector256.FusedMultiplyAdd(-d, r, Vector256<float>.One), r);
    }

    /// <summary>Largest of 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalMax(Vector512<float> v) => HorizontalMax(Vector256.Max(v.GetLower(), v.GetUpper()));

    /// <summary>Largest of 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalMax(Vector256<float> v)
    {
        var h = Vector128.Max(v.GetLower(), v.GetUpper());
        return MathF.Max(MathF.Max(h[0], h[1]), MathF.Max(h[2], h[3]));
    }
}
