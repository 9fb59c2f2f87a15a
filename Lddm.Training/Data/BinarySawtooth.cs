namespace Lddm.Training.Data;

/// <summary>
/// The binary sawtooth task of digest §7.1. For one sequence: s ~ U[0, 1), and for i = 0..L−1
/// <code>
///   u = (i/L + s) mod 1,  v = (u · numSaws) mod 1,  tri = 1 − |2v − 1|,
///   pᵢ(s) = scale + (1 − 2·scale) · tri,          xᵢ ~ Bernoulli(pᵢ(s))
/// </code>
/// Tokens are {0, 1}; MASK is id 2. Given s the tokens are independent; marginally they are strongly
/// correlated, and the exact likelihood p(x) = ∫₀¹ Πᵢ pᵢ(s)^{xᵢ} (1 − pᵢ(s))^{1−xᵢ} ds is computable
/// (<see cref="LogLikelihood"/>).
/// </summary>
public sealed class BinarySawtooth
{
    /// <summary>Number of real tokens (0 and 1).</summary>
    public const int VocabularySize = 2;

    /// <summary>Id of the absorbing MASK token.</summary>
    public const int MaskId = 2;

    private readonly double[] _breakpoints;
    private readonly double[] _nodes;
    private readonly double[] _weights;

    public BinarySawtooth(SawtoothConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        _breakpoints = Kinks(config);
        (_nodes, _weights) = GaussLegendre.Rule(config.Length / 2 + 1);
    }

    public SawtoothConfig Config { get; }

    public int Length => Config.Length;

    /// <summary>pᵢ(s) exactly as in §7.1.</summary>
    public double Probability(int i, double shift)
    {
        double u = Frac((double)i / Config.Length + shift);
        double v = Frac(u * Config.NumSaws);
        double tri = 1 - Math.Abs(2 * v - 1);
        return Config.Scale + (1 - 2 * Config.Scale) * tri;
    }

    /// <summary>
    /// Sequence number <paramref name="index"/> of the stream <paramref name="seed"/>: its RNG is derived from
    /// (seed, index) only, so any sequence can be regenerated alone. Writes L tokens and returns the shift.
    /// </summary>
    public double Generate(ulong seed, long index, Span<int> tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        if (tokens.Length != Config.Length)
        {
            throw new ArgumentException($"Token span has length {tokens.Length}; the sawtooth length L is {Config.Length}.", nameof(tokens));
        }
        var rng = SplitMix64.ForIndex(seed, (ulong)index);
        double shift = rng.NextDouble();
        for (int i = 0; i < tokens.Length; i++)
        {
            tokens[i] = rng.NextDouble() < Probability(i, shift) ? 1 : 0;
        }
        return shift;
    }

    /// <summary>One sequence as a record (tokens and shift).</summary>
    public SawtoothSample Generate(ulong seed, long index)
    {
        var tokens = new int[Config.Length];
        double shift = Generate(seed, index, tokens);
        return new SawtoothSample(tokens, shift);
    }

    /// <summary>
    /// Sequences <paramref name="firstIndex"/> … firstIndex + count − 1 as a row-major [count, L] block; the shifts
    /// go to <paramref name="shifts"/> (length count). Identical to generating each index alone.
    /// </summary>
    public void Generate(ulong seed, long firstIndex, int count, Span<int> tokens, Span<double> shifts)
    {
        int l = Config.Length;
        if (tokens.Length != count * l || shifts.Length != count)
        {
            throw new ArgumentException($"Expected {count}×{l} tokens and {count} shifts; got {tokens.Length} and {shifts.Length}.");
        }
        for (int b = 0; b < count; b++)
        {
            shifts[b] = Generate(seed, firstIndex + b, tokens.Slice(b * l, l));
        }
    }

    /// <summary>
    /// log p(x) = log ∫₀¹ Πᵢ pᵢ(s)^{xᵢ}(1 − pᵢ(s))^{1−xᵢ} ds in nats, for any x ∈ {0,1}^L. [0, 1) is split at the
    /// kinks of every pᵢ; on each piece the integrand is a polynomial of degree ≤ L in s, so Gauss–Legendre with
    /// L/2 + 1 nodes is exact up to rounding. Terms are combined by log-sum-exp, so long sequences do not underflow.
    /// </summary>
    public double LogLikelihood(ReadOnlySpan<int> x)
    {
        ValidateBinary(x);
        double max = double.NegativeInfinity, sum = 0;
        for (int piece = 0; piece + 1 < _breakpoints.Length; piece++)
        {
            double a = _breakpoints[piece], b = _breakpoints[piece + 1];
            double half = 0.5 * (b - a), mid = 0.5 * (a + b);
            for (int j = 0; j < _nodes.Length; j++)
            {
                double term = Math.Log(_weights[j] * half) + LogConditional(x, mid + half * _nodes[j]);
                if (term > max)
                {
                    sum = sum * Math.Exp(max - term) + 1;
                    max = term;
                }
                else
                {
                    sum += Math.Exp(term - max);
                }
            }
        }
        return max + Math.Log(sum);
    }

    /// <summary>log p(x | s) = Σᵢ xᵢ log pᵢ(s) + (1 − xᵢ) log(1 − pᵢ(s)).</summary>
    public double LogConditional(ReadOnlySpan<int> x, double shift)
    {
        double total = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double p = Probability(i, shift);
            total += Math.Log(x[i] == 1 ? p : 1 - p);
        }
        return total;
    }

    /// <summary>
    /// The data entropy H = E[−log p(x)] in nats per sequence (divide by L for the entropy rate), estimated by
    /// Monte Carlo over sequences 0..count−1 of <paramref name="seed"/> with the exact log-likelihood of each.
    /// </summary>
    public Estimate EntropyPerSequence(ulong seed, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 2);
        var nll = new double[count];
        Parallel.For(0, count, () => new int[Config.Length], (n, _, tokens) =>
        {
            Generate(seed, n, tokens);
            nll[n] = -LogLikelihood(tokens);
            return tokens;
        }, _ => { });
        double mean = nll.Average();
        double variance = nll.Sum(v => (v - mean) * (v - mean)) / (count - 1);
        return new Estimate(mean, Math.Sqrt(variance / count), count);
    }

    /// <summary>
    /// p̄ᵢ = ∫₀¹ pᵢ(s) ds, the marginal probability that xᵢ = 1 (same piecewise-exact quadrature).
    /// </summary>
    public double MarginalProbability(int i)
    {
        double total = 0;
        for (int piece = 0; piece + 1 < _breakpoints.Length; piece++)
        {
            double a = _breakpoints[piece], b = _breakpoints[piece + 1];
            double half = 0.5 * (b - a), mid = 0.5 * (a + b);
            for (int j = 0; j < _nodes.Length; j++)
            {
                total += _weights[j] * half * Probability(i, mid + half * _nodes[j]);
            }
        }
        return total;
    }

    /// <summary>
    /// Expected NLL per sequence (nats) of the best i.i.d. Bernoulli model: one p̄ = (1/L) Σᵢ p̄ᵢ for every position,
    /// NLL = −Σᵢ [p̄ᵢ log p̄ + (1 − p̄ᵢ) log(1 − p̄)]. A trained model must beat this to have learnt any structure.
    /// </summary>
    public double IidBernoulliNll()
    {
        var marginals = Enumerable.Range(0, Config.Length).Select(MarginalProbability).ToArray();
        double pBar = marginals.Average();
        return -marginals.Sum(p => p * Math.Log(pBar) + (1 - p) * Math.Log(1 - pBar));
    }

    private void ValidateBinary(ReadOnlySpan<int> x)
    {
        if (x.Length != Config.Length)
        {
            throw new ArgumentException($"Sequence has length {x.Length}; the sawtooth length L is {Config.Length}.", nameof(x));
        }
        for (int i = 0; i < x.Length; i++)
        {
            if (x[i] is not (0 or 1))
            {
                throw new ArgumentException($"Token {x[i]} at position {i} is not binary (0 or 1); MASK ({MaskId}) has no likelihood.", nameof(x));
            }
        }
    }

    /// <summary>x mod 1 in [0, 1) for x ≥ 0 (the Python % of §7.1).</summary>
    private static double Frac(double x) => x - Math.Floor(x);

    /// <summary>
    /// All s ∈ [0, 1] where some pᵢ has a kink: (i/L + s)·numSaws mod 1 ∈ {0, ½} ⇔ s ≡ k/(2·numSaws) − i/L (mod 1).
    /// Sorted, deduplicated, with 0 and 1 as ends.
    /// </summary>
    private static double[] Kinks(SawtoothConfig config)
    {
        var points = new SortedSet<double> { 0.0, 1.0 };
        int halfTeeth = 2 * config.NumSaws;
        for (int i = 0; i < config.Length; i++)
        {
            for (int k = 0; k < halfTeeth; k++)
            {
                double s = Frac((double)k / halfTeeth - (double)i / config.Length);
                points.Add(s);
            }
        }
        var sorted = points.ToList();
        var kept = new List<double> { sorted[0] };
        foreach (double p in sorted.Skip(1))
        {
            if (p - kept[^1] > 1e-14)
            {
                kept.Add(p);
            }
        }
        kept[^1] = 1.0;
        return [.. kept];
    }
}
