using Lddm.Training.Data;

namespace Lddm.Training.Evaluation;

/// <summary>
/// Sample-quality statistics that need no model: the unigram (token) distribution of a set of sequences, the KL
/// divergence between two such distributions, the per-sequence unigram entropy, and mean ± standard error.
/// All in nats (natural log).
/// </summary>
public static class SequenceMetrics
{
    /// <summary>p(v) = count of v / number of tokens, over every token of <paramref name="tokens"/> (ids in [0, vocabulary)).</summary>
    public static double[] UnigramDistribution(ReadOnlySpan<int> tokens, int vocabulary)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabulary, 1);
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("UnigramDistribution needs at least one token, got none.", nameof(tokens));
        }
        var counts = new long[vocabulary];
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)vocabulary)
            {
                throw new ArgumentException($"Token {t} is outside the vocabulary [0, {vocabulary}).", nameof(tokens));
            }
            counts[t]++;
        }
        double total = tokens.Length;
        return counts.Select(c => c / total).ToArray();
    }

    /// <summary>
    /// KL(p ‖ q) = Σ_v p(v) log(p(v)/q(v)) in nats; terms with p(v) = 0 are 0, and p(v) &gt; 0 = q(v) gives +∞.
    /// </summary>
    public static double KlDivergence(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        if (p.Length != q.Length || p.IsEmpty)
        {
            throw new ArgumentException($"KL needs two distributions over the same non-empty vocabulary, got sizes {p.Length} and {q.Length}.");
        }
        double kl = 0;
        for (int v = 0; v < p.Length; v++)
        {
            if (p[v] > 0)
            {
                kl += q[v] > 0 ? p[v] * Math.Log(p[v] / q[v]) : double.PositiveInfinity;
            }
        }
        return Math.Max(kl, 0); // rounding can leave −1e-17 for identical distributions
    }

    /// <summary>−Σ_v p(v) log p(v) of one sequence's own token frequencies p(v) = count(v)/L, in nats.</summary>
    public static double UnigramEntropy(ReadOnlySpan<int> sequence, int vocabulary)
    {
        var p = UnigramDistribution(sequence, vocabulary);
        return -p.Where(x => x > 0).Sum(x => x * Math.Log(x));
    }

    /// <summary>Mean and standard error (sample SD / √n; NaN for fewer than two values).</summary>
    public static Estimate MeanAndStandardError(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            throw new ArgumentException("Mean of no values.", nameof(values));
        }
        double mean = values.Average();
        double se = values.Count < 2 ? double.NaN
            : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1) / values.Count);
        return new Estimate(mean, se, values.Count);
    }
}
