using Lddm.Autograd;
using Lddm.Models;
using Lddm.Training.Ar;

namespace Lddm.Training.Evaluation;

/// <summary>A mean over sequences and its standard error (sample SD / √n; 0 for one sequence).</summary>
public sealed record MeanWithError(double Mean, double StandardError, int Count)
{
    public static MeanWithError Of(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            throw new ArgumentException("MeanWithError: no values.", nameof(values));
        }
        double mean = values.Average();
        double se = values.Count < 2 ? 0 : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1) / values.Count);
        return new MeanWithError(mean, se, values.Count);
    }
}

/// <summary>
/// Generative perplexity of sequences under a judge (digest §7.2): PPL = exp(Σ NLL / Σ tokens), the total
/// next-token NLL over ALL tokens of all sequences divided by their total count — not a mean of per-sequence PPLs.
/// </summary>
/// <param name="TotalNll">Σ over every token of −log p_judge(x_i | x_&lt;i), nats.</param>
/// <param name="Tokens">Tokens counted.</param>
/// <param name="SequenceNll">Each sequence's total NLL (nats).</param>
/// <param name="SequenceTokens">Each sequence's token count.</param>
public sealed record GenerativePerplexity(double TotalNll, long Tokens, double[] SequenceNll, int[] SequenceTokens)
{
    /// <summary>exp(TotalNll / Tokens).</summary>
    public double Perplexity => Math.Exp(TotalNll / Tokens);

    /// <summary>
    /// Standard error of <see cref="Perplexity"/> by the delta method over sequences:
    /// PPL · SE(per-sequence NLL per token) (an approximation; 0 for one sequence).
    /// </summary>
    public double StandardError =>
        Perplexity * MeanWithError.Of([.. SequenceNll.Select((nll, i) => nll / SequenceTokens[i])]).StandardError;

    /// <summary>The mean of per-sequence perplexities (NOT the metric; kept to show the difference).</summary>
    public double MeanOfSequencePerplexities => SequenceNll.Select((nll, i) => Math.Exp(nll / SequenceTokens[i])).Average();

    /// <summary>Aggregates per-sequence NLLs and token counts.</summary>
    public static GenerativePerplexity FromSequences(IReadOnlyList<double> sequenceNll, IReadOnlyList<int> sequenceTokens)
    {
        ArgumentNullException.ThrowIfNull(sequenceNll);
        ArgumentNullException.ThrowIfNull(sequenceTokens);
        if (sequenceNll.Count == 0 || sequenceNll.Count != sequenceTokens.Count)
        {
            throw new ArgumentException(
                $"GenerativePerplexity: need as many token counts as NLLs (≥ 1) but got {sequenceNll.Count} NLLs and {sequenceTokens.Count} counts.");
        }
        if (sequenceTokens.Any(t => t <= 0))
        {
            throw new ArgumentException("GenerativePerplexity: every sequence must have at least one token.", nameof(sequenceTokens));
        }
        double total = 0;
        long tokens = 0;
        for (int i = 0; i < sequenceNll.Count; i++)
        {
            total += sequenceNll[i];
            tokens += sequenceTokens[i];
        }
        return new GenerativePerplexity(total, tokens, [.. sequenceNll], [.. sequenceTokens]);
    }

    /// <summary>
    /// Scores <paramref name="count"/> sequences of <paramref name="length"/> ids in [0, K) under
    /// <paramref name="judge"/> (whose BOS is K) in batches of <paramref name="batch"/>, without gradient, in eval mode.
    /// Per-token NLLs come from the float32 cross-entropy kernel and are summed in float64.
    /// </summary>
    public static GenerativePerplexity Evaluate(CausalTransformer judge, ReadOnlySpan<int> tokens, int count, int length, int batch = 16)
    {
        ArgumentNullException.ThrowIfNull(judge);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        if (count < 1 || length < 1 || tokens.Length != (long)count * length)
        {
            throw new ArgumentException($"GenerativePerplexity: {tokens.Length} tokens do not form {count} sequences of length {length}.", nameof(tokens));
        }
        var nll = new double[count];
        bool training = judge.Training;
        judge.Eval();
        using var off = Grad.Off();
        try
        {
            for (int start = 0; start < count; start += batch)
            {
                int n = Math.Min(batch, count - start);
                using var tape = Tape.Begin();
                var ce = ArModel.TokenNll(judge, tokens.Slice(start * length, n * length), n, length).ToArray();
                for (int b = 0; b < n; b++)
                {
                    double s = 0;
                    for (int i = 0; i < length; i++)
                    {
                        s += ce[b * length + i];
                    }
                    nll[start + b] = s;
                }
            }
        }
        finally
        {
            if (training)
            {
                judge.Train();
            }
        }
        return FromSequences(nll, Enumerable.Repeat(length, count).ToArray());
    }
}

/// <summary>Unigram entropy of a sequence's own token counts (digest §7.2), natural log: catches degenerate samples.</summary>
public static class UnigramEntropy
{
    /// <summary>−Σ_v p_v ln p_v with p_v = count_v / |sequence|.</summary>
    public static double OfSequence(ReadOnlySpan<int> sequence)
    {
        if (sequence.IsEmpty)
        {
            throw new ArgumentException("UnigramEntropy: the sequence is empty.", nameof(sequence));
        }
        var counts = new Dictionary<int, int>();
        foreach (int v in sequence)
        {
            counts[v] = counts.GetValueOrDefault(v) + 1;
        }
        double h = 0;
        foreach (int c in counts.Values)
        {
            double p = (double)c / sequence.Length;
            h -= p * Math.Log(p);
        }
        return h;
    }

    /// <summary>Mean ± standard error of <see cref="OfSequence"/> over <paramref name="count"/> sequences of <paramref name="length"/>.</summary>
    public static MeanWithError Evaluate(ReadOnlySpan<int> tokens, int count, int length)
    {
        if (count < 1 || length < 1 || tokens.Length != (long)count * length)
        {
            throw new ArgumentException($"UnigramEntropy: {tokens.Length} tokens do not form {count} sequences of length {length}.", nameof(tokens));
        }
        var h = new double[count];
        for (int i = 0; i < count; i++)
        {
            h[i] = OfSequence(tokens.Slice(i * length, length));
        }
        return MeanWithError.Of(h);
    }
}
