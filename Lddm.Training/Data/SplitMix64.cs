namespace Lddm.Training.Data;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood 2014): a tiny, well-mixed 64-bit generator. Used where data must be
/// reproducible from (seed, index) alone, independently of how many sequences were generated before.
/// </summary>
internal struct SplitMix64
{
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private ulong _state;

    public SplitMix64(ulong state) => _state = state;

    /// <summary>A generator whose stream depends only on (<paramref name="seed"/>, <paramref name="index"/>).</summary>
    public static SplitMix64 ForIndex(ulong seed, ulong index) => new(Mix(Mix(seed) ^ Mix(index + Gamma)));

    /// <summary>The SplitMix64 finaliser (a bijection on 64-bit words).</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        _state += Gamma;
        return Mix(_state);
    }

    /// <summary>Uniform on [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
