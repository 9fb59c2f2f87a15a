using Lddm.Models;
using Lddm.Training.Evaluation;

namespace Lddm.Training.Mdlm;

/// <summary>A Monte Carlo NELBO estimate over a validation set.</summary>
/// <param name="NatsPerToken">The mean continuous-time NELBO per token (nats); exp of it bounds the perplexity.</param>
/// <param name="BitsPerToken">The same in bits (nats / ln 2).</param>
/// <param name="StandardError">Standard error of <paramref name="NatsPerToken"/> over the independent draws (NaN for one draw).</param>
/// <param name="Draws">How many passes over the set were averaged.</param>
/// <param name="Terms">The bound's terms (nats per token, averaged like the total), e.g. tokens and latent for LDDM.</param>
public sealed record NelboEstimate(double NatsPerToken, double BitsPerToken, double StandardError, int Draws,
    IReadOnlyList<(string Term, double NatsPerToken)>? Terms = null)
{
    /// <summary>The model's batch diagnostics (<see cref="Engine.IStepLoss.Statistics"/>), averaged over batches weighted by
    /// their size; empty when it has none.</summary>
    public IReadOnlyList<(string Name, double Value)> Statistics { get; init; } = [];

    /// <summary>"code_perplexity 12.3, codes_used 20, dead_codes 3" or "".</summary>
    public string DescribeStatistics() =>
        string.Join(", ", Statistics.Select(t => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{t.Name} {t.Value:G4}")));

    /// <summary>Value equality, the terms compared element by element (a list compares by reference).</summary>
    public bool Equals(NelboEstimate? other) =>
        other is not null && NatsPerToken.Equals(other.NatsPerToken) && BitsPerToken.Equals(other.BitsPerToken)
        && StandardError.Equals(other.StandardError) && Draws == other.Draws
        && (Terms ?? []).SequenceEqual(other.Terms ?? []) && Statistics.SequenceEqual(other.Statistics);

    public override int GetHashCode() => HashCode.Combine(NatsPerToken, StandardError, Draws, Terms?.Count ?? 0);

    /// <summary>"tokens 1.2345 + latent 0.1234" (nats per token), or "" for a single-term bound.</summary>
    public string DescribeTerms() => Terms is not { Count: > 1 } ? ""
        : string.Join(" + ", Terms.Select(t => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{t.Term} {t.NatsPerToken:F4}")));
}

/// <summary>
/// Validation NELBO of a bare DiT under an MDLM objective (digest §8.4, "test perplexity bound"; the generic
/// <see cref="NelboEvaluator"/> does the work): the objective's unbiased continuous-time
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
        return NelboEvaluator.ValidationNelbo((x0, b, l, step) => Objective.Loss(model, x0, b, l, seed, step), sequences, batch, draws);
    }
}
