namespace Lddm.Kernels.Reference;

/// <summary>
/// Slow, obviously correct versions of the random kernels, written independently of <see cref="Philox"/>:
/// Philox4x32-10 exactly as Random123's <c>philox4x32_R</c> (arrays, a loop of rounds, key bumps in between),
/// then the same bit mappings in float64.
/// </summary>
public static class RngReference
{
    /// <summary>Random123 philox4x32_R(10, ctr, key): returns the four output words.</summary>
    public static uint[] Philox4x32_10(uint[] counter, uint[] key)
    {
        var ctr = (uint[])counter.Clone();
        var k = (uint[])key.Clone();
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k[0] += 0x9E3779B9;
                k[1] += 0xBB67AE85;
            }
            ulong product0 = (ulong)0xD2511F53 * ctr[0];
            ulong product1 = (ulong)0xCD9E8D57 * ctr[2];
            ctr = [(uint)(product1 >> 32) ^ ctr[1] ^ k[0], (uint)product1, (uint)(product0 >> 32) ^ ctr[3] ^ k[1], (uint)product0];
        }
        return ctr;
    }

    /// <summary>The four words for element <paramref name="index"/>: counter (index lo, index hi, stream lo, stream hi), key (seed lo, seed hi).</summary>
    public static uint[] Block(ulong seed, ulong stream, ulong index) =>
        Philox4x32_10([(uint)index, (uint)(index >> 32), (uint)stream, (uint)(stream >> 32)], [(uint)seed, (uint)(seed >> 32)]);

    /// <summary>u[i] = ⌊w₀ / 2⁸⌋ / 2²⁴ for element offset + i.</summary>
    public static double[] Uniform(ulong seed, ulong stream, long offset, int n)
    {
        var u = new double[n];
        for (int i = 0; i < n; i++)
        {
            u[i] = Math.Floor(Block(seed, stream, (ulong)(offset + i))[0] / 256.0) / 16777216.0;
        }
        return u;
    }

    /// <summary>u[i] = (⌊w₀ / 2⁵⌋·2²⁶ + ⌊w₁ / 2⁶⌋) / 2⁵³ for element offset + i.</summary>
    public static double[] UniformDouble(ulong seed, ulong stream, long offset, int n)
    {
        var u = new double[n];
        for (int i = 0; i < n; i++)
        {
            u[i] = Bits53(Block(seed, stream, (ulong)(offset + i)), 0) / 9007199254740992.0;
        }
        return u;
    }

    /// <summary>z[i] = mean + std·√(−2 ln u₁)·cos(2π u₂) with u₁ = (bits(w₀, w₁) + 1)/2⁵³ ∈ (0, 1], u₂ = bits(w₂, w₃)/2⁵³.</summary>
    public static double[] Normal(ulong seed, ulong stream, long offset, int n, double mean = 0, double std = 1)
    {
        var z = new double[n];
        for (int i = 0; i < n; i++)
        {
            var w = Block(seed, stream, (ulong)(offset + i));
            double u1 = (Bits53(w, 0) + 1) / 9007199254740992.0;
            double u2 = Bits53(w, 2) / 9007199254740992.0;
            z[i] = mean + std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }
        return z;
    }

    /// <summary>keep[i] = Uniform(seed, stream, offset + i) ≥ p.</summary>
    public static bool[] DropoutMask(double p, ulong seed, ulong stream, long offset, int n) =>
        Uniform(seed, stream, offset, n).Select(u => u >= p).ToArray();

    /// <summary>y[i] = x[i]·keep[i]/(1 − p).</summary>
    public static double[] DropoutForward(ReadOnlySpan<float> x, float p, ulong seed, ulong stream, long offset)
    {
        var keep = DropoutMask(p, seed, stream, offset, x.Length);
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            y[i] = keep[i] ? x[i] / (1.0 - p) : 0.0;
        }
        return y;
    }

    /// <summary>dx[i] + dy[i]·keep[i]/(1 − p).</summary>
    public static double[] DropoutBackward(ReadOnlySpan<float> dy, float p, ulong seed, ulong stream, long offset, ReadOnlySpan<float> dx)
    {
        var keep = DropoutMask(p, seed, stream, offset, dy.Length);
        var r = new double[dy.Length];
        for (int i = 0; i < dy.Length; i++)
        {
            r[i] = dx[i] + (keep[i] ? dy[i] / (1.0 - p) : 0.0);
        }
        return r;
    }

    private static double Bits53(uint[] w, int first) => Math.Floor(w[first] / 32.0) * 67108864.0 + Math.Floor(w[first + 1] / 64.0);
}
