namespace Lddm.Training.Data;

/// <summary>
/// Parameters of the binary sawtooth task (digest §7.1): sequence length L, number of triangle teeth per period
/// and the floor/ceiling <c>scale</c> that keeps every Bernoulli probability in [scale, 1 − scale].
/// </summary>
public sealed record SawtoothConfig
{
    public SawtoothConfig(int length = 128, int numSaws = 2, double scale = 0.01)
    {
        if (length < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "Sawtooth length L must be at least 1.");
        }
        if (numSaws < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(numSaws), numSaws, "Sawtooth numSaws must be at least 1.");
        }
        if (!(scale > 0 && scale <= 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale,
                "Sawtooth scale must lie in (0, 0.5] so every probability stays in [scale, 1 − scale] ⊂ (0, 1).");
        }
        Length = length;
        NumSaws = numSaws;
        Scale = scale;
    }

    /// <summary>Sequence length L.</summary>
    public int Length { get; }

    /// <summary>Number of triangle teeth over one period of the position axis.</summary>
    public int NumSaws { get; }

    /// <summary>Probability floor: pᵢ ∈ [scale, 1 − scale].</summary>
    public double Scale { get; }
}

/// <summary>One generated sequence: tokens xᵢ ∈ {0, 1} and the latent shift s that produced them.</summary>
public sealed record SawtoothSample(int[] Tokens, double Shift);

/// <summary>A Monte Carlo estimate: mean and its standard error (sample standard deviation / √n).</summary>
public readonly record struct Estimate(double Mean, double StandardError, int Count);
