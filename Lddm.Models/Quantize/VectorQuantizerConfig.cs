using System.Globalization;

namespace Lddm.Models;

/// <summary>
/// Di-LADD's vector quantiser (the authors' cosine-similarity EMA codebook): C real codes of dimension D (the MASK code
/// of the latent chain is not a codebook row), commitment weight β (theirs 0.1), EMA decay (theirs 0.95), Laplace
/// smoothing ε (1e-5) and the dead-code threshold (theirs 2: a code whose EMA count falls below it is re-seeded from
/// the batch). Validated on construction.
/// </summary>
public sealed record VectorQuantizerConfig(int Codes, int Dim, float Commitment = 0.1f, double Decay = 0.95, double Epsilon = 1e-5,
    float DeadThreshold = 2f)
{
    private bool Validated { get; } = Check(Codes, Dim, Commitment, Decay, Epsilon, DeadThreshold);

    /// <summary>Throws if any value is out of range.</summary>
    public void Validate() => Check(Codes, Dim, Commitment, Decay, Epsilon, DeadThreshold);

    private static bool Check(int codes, int dim, float commitment, double decay, double epsilon, float deadThreshold)
    {
        const string owner = nameof(VectorQuantizerConfig);
        ConfigCheck.Positive(codes, owner, nameof(Codes));
        ConfigCheck.Positive(dim, owner, nameof(Dim));
        if (!(commitment >= 0f) || !float.IsFinite(commitment))
        {
            throw new ArgumentOutOfRangeException(nameof(Commitment), commitment,
                $"{owner}: '{nameof(Commitment)}' must be finite and ≥ 0 but was {commitment.ToString(CultureInfo.InvariantCulture)}.");
        }
        if (!(decay >= 0 && decay < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Decay), decay,
                $"{owner}: '{nameof(Decay)}' must be in [0, 1) but was {decay.ToString("R", CultureInfo.InvariantCulture)}.");
        }
        if (!(epsilon > 0) || !double.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(Epsilon), epsilon,
                $"{owner}: '{nameof(Epsilon)}' must be finite and positive but was {epsilon.ToString("R", CultureInfo.InvariantCulture)}.");
        }
        if (!(deadThreshold >= 0f) || !float.IsFinite(deadThreshold))
        {
            throw new ArgumentOutOfRangeException(nameof(DeadThreshold), deadThreshold,
                $"{owner}: '{nameof(DeadThreshold)}' must be finite and ≥ 0 (0 turns re-seeding off) but was " +
                $"{deadThreshold.ToString(CultureInfo.InvariantCulture)}.");
        }
        return true;
    }
}
