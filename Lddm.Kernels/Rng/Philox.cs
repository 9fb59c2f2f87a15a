using System.Runtime.CompilerServices;

namespace Lddm.Kernels;

/// <summary>
/// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11; the
/// Random123 library): a counter-based generator. Output block = bijection of a 4×32-bit counter under a
/// 2×32-bit key, so element i of a stream is computed from (seed, stream, i) alone: no state, no sequential
/// dependency, hence the same numbers on every backend and for any thread count or launch shape.
/// <para>
/// Mapping used throughout Lddm: key = (seed low 32, seed high 32); counter = (index low 32, index high 32,
/// stream low 32, stream high 32). Everything is plain static code on <see cref="uint"/>/<see cref="ulong"/>
/// (no arrays, no allocation), so the very same methods run on the host and inside ILGPU kernels.
/// </para>
/// <para>
/// Uniforms (<see cref="Uniform"/>, <see cref="UniformDouble"/>) use only integer operations and exact
/// conversions: they are bit-identical on every backend. <see cref="Normal"/> uses double-precision
/// log/cos/sqrt: bit-identical between the CPU backends (both call System.Math); on a GPU, ILGPU.Algorithms
/// computes double log/cos by CORDIC (≈ 2e-15 from System.Math), so a normal may differ by one float ulp after
/// the cast (none did in 100 000 samples, see RngTests).
/// </para>
/// </summary>
public static class Philox
{
    /// <summary>Round multipliers of Philox4x32.</summary>
    public const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57;

    /// <summary>Weyl key increments (golden ratio, √3 − 1).</summary>
    public const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    private const float TwoPowMinus24 = 1f / (1 << 24);
    private const double TwoPowMinus53 = 1.0 / (1L << 53);
    private const double TwoPi = 6.283185307179586476925286766559;

    /// <summary>One 128-bit output block of Philox4x32-10.</summary>
    public readonly struct Block(uint x0, uint x1, uint x2, uint x3)
    {
        public readonly uint X0 = x0, X1 = x1, X2 = x2, X3 = x3;
    }

    /// <summary>Philox4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1): ten rounds, key bumped between rounds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Block Generate(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        var c = new Block(c0, c1, c2, c3);
        c = Round(c, k0, k1);
        k0 += W0; k1 += W1; c = Round(c, k0, k1);
        k0 += W0; k1 += W1; c = Round(c, k0, k1);
        k0 += W0; k1 += W1; c = Round(c, k0, k1);
        k0 += W0; k1 += W1; c = Round(c, k0, k1);
        k0 += W0; k1 += W1; c = Round(c, k0, k1);
        k0 += W0; k1 += W1; c = Round(c, k0, k1);
        k0 += W0; k1 += W1; c = Round(c, k0, k1);
        k0 += W0; k1 += W1; c = Round(c, k0, k1);
        k0 += W0; k1 += W1;
        return Round(c, k0, k1);
    }

    /// <summary>The block for element <paramref name="index"/> of stream <paramref name="stream"/> under <paramref name="seed"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Block Generate(ulong seed, ulong stream, long index)
    {
        ulong i = (ulong)index;
        return Generate((uint)i, (uint)(i >> 32), (uint)stream, (uint)(stream >> 32), (uint)seed, (uint)(seed >> 32));
    }

    /// <summary>Uniform float in [0, 1): the top 24 bits of word 0 times 2⁻²⁴ (every value exactly representable).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Uniform(ulong seed, ulong stream, long index) => ToUniform(Generate(seed, stream, index).X0);

    /// <summary>Uniform double in [0, 1) from 53 bits: the top 27 of word 0 and the top 26 of word 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double UniformDouble(ulong seed, ulong stream, long index)
    {
        var b = Generate(seed, stream, index);
        return ToUniformDouble(b.X0, b.X1);
    }

    /// <summary>
    /// Standard normal by Box–Muller in double from all four words, cast to float:
    /// z = √(−2 ln u₁)·cos(2π u₂) with u₁ ∈ (0, 1] (never 0, so the log is finite) and u₂ ∈ [0, 1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Normal(ulong seed, ulong stream, long index)
    {
        var b = Generate(seed, stream, index);
        return ToNormal(b.X0, b.X1, b.X2, b.X3);
    }

    /// <summary>(x ≫ 8)·2⁻²⁴: the float uniform from one output word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToUniform(uint x) => (int)(x >> 8) * TwoPowMinus24;

    /// <summary>((a ≫ 5)·2²⁶ + (b ≫ 6))·2⁻⁵³: the double uniform in [0, 1) from two output words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double ToUniformDouble(uint a, uint b) => (long)(((ulong)(a >> 5) << 26) | (b >> 6)) * TwoPowMinus53;

    /// <summary>Box–Muller from four output words (see <see cref="Normal"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToNormal(uint x0, uint x1, uint x2, uint x3)
    {
        double u1 = ((long)(((ulong)(x0 >> 5) << 26) | (x1 >> 6)) + 1) * TwoPowMinus53;
        double u2 = ToUniformDouble(x2, x3);
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(TwoPi * u2));
    }

    /// <summary>
    /// One Philox4x32 round: two 32×32→64 multiplies, cross-wired with the key:
    /// (c0, c1, c2, c3) ← (hi(M1·c2) ⊕ c1 ⊕ k0, lo(M1·c2), hi(M0·c0) ⊕ c3 ⊕ k1, lo(M0·c0)).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Block Round(Block c, uint k0, uint k1)
    {
        ulong p0 = (ulong)M0 * c.X0;
        ulong p1 = (ulong)M1 * c.X2;
        return new Block((uint)(p1 >> 32) ^ c.X1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c.X3 ^ k1, (uint)p0);
    }
}
