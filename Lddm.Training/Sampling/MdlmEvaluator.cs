using Lddm.Autograd;
using Lddm.Models;
using Lddm.Training.Objectives;

namespace Lddm.Training.Sampling;

/// <summary>A Monte Carlo NELBO estimate over a validation set.</summary>
/// <param name="NatsPerToken">The mean continuous-time NELBO per token (nats); exp of it bounds the perplexity.</param>
/// <param name="BitsPerToken">The same in bits (nats / ln 2).</param>
/// <param name="StandardError">Standard error of <paramref name="NatsPerToken"/> over the independent draws (NaN for one draw).</param>
/// <param name="Draws">How many passes over the set were averaged.</param>
public sealed record NelboEstimate(double NatsPerToken, double BitsPerToken, double StandardError, int Draws);

/// <summary>
/// Validation NELBO of an MDLM (digest §8.4, "test perplexity bound"): the objective's unbiased continuous-time
/// estimator (low-discrepancy t over each batch, fresh masks) averaged over the set and over independent draws, with
/// no gradient recorded. Draws come from (seed, step) with step = draw · batches + batch index, so the same seed gives
/// the same estimate on every run and backend, whatever was trained before.
/// </summary>
public sealed class MdlmEvaluator(MdlmObjective objective)
{
    public MdlmObjective Objective { get; } = objective ?? throw new ArgumentNullException(nameof(objective));

    /// <summary>
    /// NELBO per token of <paramref name="sequences"/> (all of one length, ids in [0, K)) in batches of
    /// <paramref name="batch"/>, averaged over <paramref name="draws"/> passes; the standard error is over the passes.
    /// </summary>
    public NelboEstimate ValidationNelbo(DiT model, IReadOnlyList<int[]> sequences, int batch, ulong seed, int draws)
    {
        ArgumentNullException.ThrowIfNull(model);
        int length = CheckSet(sequences);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(draws, 1);
        int batches = (sequences.Count + batch - 1) / batch;
        var perDraw = new double[draws];
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
                var loss = Objective.Loss(model, x0, size, length, seed, (long)d * batches + j);
                sum += loss.NelboPerToken() * size; // NELBO per token × tokens / length
            }
            perDraw[d] = sum / sequences.Count;
        }
        double mean = perDraw.Average();
        double se = draws < 2 ? double.NaN
            : Math.Sqrt(perDraw.Sum(v => (v - mean) * (v - mean)) / (draws - 1) / draws);
        return new NelboEstimate(mean, mean / Math.Log(2), se, draws);
    }

    private static int CheckSet(IReadOnlyList<int[]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
        {
            throw new ArgumentException("MdlmEvaluator: the validation set is empty.", nameof(sequences));
        }
        int length = sequences[0]?.Length ?? 0;
        for (int i = 0; i < sequences.Count; i++)
        {
            if (sequences[i] is null || sequences[i].Length != length || length == 0)
            {
                throw new ArgumentException(
                    $"MdlmEvaluator: sequence {i} has length {sequences[i]?.Length ?? 0} but every sequence must have the first one's length {length} (> 0).",
                    nameof(sequences));
            }
        }
        return length;
    }
}
