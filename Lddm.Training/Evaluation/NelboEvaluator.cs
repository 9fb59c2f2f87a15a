using Lddm.Autograd;
using Lddm.Training.Engine;
using Lddm.Training.Mdlm;

namespace Lddm.Training.Evaluation;

/// <summary>
/// Validation NELBO of any <see cref="ITrainableModel"/> (digest §8.4): its own unbiased loss estimator's NELBO term
/// averaged over the set and over independent draws, with no gradient recorded. Draws come from (seed, step) with
/// step = draw · batches + batch index, so the same seed gives the same estimate on every run and backend. Uses the
/// weights in the network: swap the EMA in first.
/// </summary>
public static class NelboEvaluator
{
    /// <summary>One batch's NELBO per token: (x₀ as batch·length ids, batch, length, step) → loss (inside a tape).</summary>
    public delegate IStepLoss BatchLoss(int[] x0, int batch, int length, long step);

    public static NelboEstimate ValidationNelbo(ITrainableModel model, IReadOnlyList<int[]> sequences, int batch, ulong seed, int draws)
    {
        ArgumentNullException.ThrowIfNull(model);
        return ValidationNelbo((x0, b, l, step) => model.Loss(x0, b, l, seed, step, null), sequences, batch, draws);
    }

    /// <summary>
    /// NELBO per token of <paramref name="sequences"/> (all of one length) in batches of <paramref name="batch"/>,
    /// averaged over <paramref name="draws"/> passes; the standard error is over the passes (NaN for one draw).
    /// </summary>
    public static NelboEstimate ValidationNelbo(BatchLoss loss, IReadOnlyList<int[]> sequences, int batch, int draws)
    {
        ArgumentNullException.ThrowIfNull(loss);
        int length = CheckSet(sequences);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(draws, 1);
        int batches = (sequences.Count + batch - 1) / batch;
        var perDraw = new double[draws];
        var terms = new List<(string Term, double Sum)>();
        var statistics = new List<(string Name, double Sum)>();
        using var off = Grad.Off();
        for (int d = 0; d < draws; d++)
        {
            double sum = 0;
            for (int j = 0; j < batches; j++)
            {
                int first = j * batch, size = Math.Min(batch, sequences.Count - first);
                var x0 = new int[size * length];
                for (int b = 0; b < size; b++)
                {
                    sequences[first + b].CopyTo(x0, b * length);
                }
                using var tape = Tape.Begin(); // frees this batch's activations
                var batchLoss = loss(x0, size, length, (long)d * batches + j);
                sum += batchLoss.NelboPerToken() * size;
                foreach (var (term, value) in batchLoss.Terms())
                {
                    int at = terms.FindIndex(t => t.Term == term);
                    if (at < 0)
                    {
                        terms.Add((term, 0));
                        at = terms.Count - 1;
                    }
                    terms[at] = (term, terms[at].Sum + value * size);
                }
                foreach (var (name, value) in batchLoss.Statistics())
                {
                    int at = statistics.FindIndex(t => t.Name == name);
                    if (at < 0)
                    {
                        statistics.Add((name, 0));
                        at = statistics.Count - 1;
                    }
                    statistics[at] = (name, statistics[at].Sum + value * size);
                }
            }
            perDraw[d] = sum / sequences.Count;
        }
        double mean = perDraw.Average();
        double se = draws < 2 ? double.NaN
            : Math.Sqrt(perDraw.Sum(v => (v - mean) * (v - mean)) / (draws - 1) / draws);
        double total = (double)sequences.Count * draws;
        return new NelboEstimate(mean, mean / Math.Log(2), se, draws, [.. terms.Select(t => (t.Term, t.Sum / total))])
        {
            Statistics = [.. statistics.Select(t => (t.Name, t.Sum / total))],
        };
    }

    private static int CheckSet(IReadOnlyList<int[]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
        {
            throw new ArgumentException("Validation NELBO: the validation set is empty.", nameof(sequences));
        }
        int length = sequences[0]?.Length ?? 0;
        for (int i = 0; i < sequences.Count; i++)
        {
            if (sequences[i] is null || sequences[i].Length != length || length == 0)
            {
                throw new ArgumentException(
                    $"Validation NELBO: sequence {i} has length {sequences[i]?.Length ?? 0} but every sequence must have the first one's length {length} (> 0).",
                    nameof(sequences));
            }
        }
        return length;
    }
}
