namespace Lddm.Training.Diffusion;

/// <summary>How the offsets inside the B strata of <see cref="TimeSampler"/> are drawn.</summary>
public enum StratifiedJitter
{
    /// <summary>
    /// One independent Uᵢ ~ U[0, 1) per batch element: uᵢ = (Uᵢ + i)/B. What both reference codes do
    /// (MDLM <c>antithetic_sampling</c>, digest §8.4; LADD, §2.4).
    /// </summary>
    Independent,

    /// <summary>One U ~ U[0, 1) shared by the batch: uᵢ = (U/B + i/B) mod 1, a randomly shifted regular grid.</summary>
    Shared,
}

/// <summary>
/// Low-discrepancy ("antithetic") time sampling over a batch of B sequences (digest §2.4, §8.4):
/// uᵢ = (Uᵢ/B + i/B) mod 1, so exactly one uᵢ falls in each stratum [i/B, (i+1)/B), then t = (1 − ε)u + ε ∈ [ε, 1).
/// Each tᵢ is still marginally U[ε, 1), so the NELBO estimate stays unbiased; its variance drops because the batch
/// covers the whole time axis.
/// </summary>
public sealed class TimeSampler
{
    /// <param name="epsilon">Time floor ε ∈ (0, 0.5): MDLM uses 10⁻³, LADD 10⁻⁴.</param>
    /// <param name="jitter">Per-element (reference codes) or shared offset.</param>
    public TimeSampler(double epsilon = 1e-3, StratifiedJitter jitter = StratifiedJitter.Independent)
    {
        Epsilon = ScheduleChecks.Epsilon(epsilon, "TimeSampler");
        if (!Enum.IsDefined(jitter))
        {
            throw new ArgumentOutOfRangeException(nameof(jitter), jitter, "Unknown stratified jitter mode.");
        }
        Jitter = jitter;
    }

    public double Epsilon { get; }

    public StratifiedJitter Jitter { get; }

    /// <summary>Fills <paramref name="t"/> (length B ≥ 1) with one time per stratum; element i lies in stratum i.</summary>
    public void Sample(Random rng, Span<double> t)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (t.IsEmpty)
        {
            throw new ArgumentException("TimeSampler needs a batch of at least one element.", nameof(t));
        }
        int b = t.Length;
        double shared = Jitter == StratifiedJitter.Shared ? rng.NextDouble() : 0;
        for (int i = 0; i < b; i++)
        {
            double offset = Jitter == StratifiedJitter.Shared ? shared : rng.NextDouble();
            double u = (offset / b + (double)i / b) % 1.0;
            t[i] = (1 - Epsilon) * u + Epsilon;
        }
    }

    /// <summary>A new array of B times; see <see cref="Sample(Random, Span{double})"/>.</summary>
    public double[] Sample(Random rng, int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        var t = new double[batch];
        Sample(rng, t);
        return t;
    }

    /// <summary>
    /// B times from <see cref="Sample(Random, int)"/>, randomly permuted across the batch: the same low-discrepancy set,
    /// but element i no longer lies in stratum i. A second chain's times drawn this way are independent of the first
    /// chain's (drawn alone they would sit in the same stratum, within 1/B of each other, so the model would never see
    /// one chain clean beside the other fully noised — what latent-first sampling feeds it).
    /// </summary>
    public double[] SampleShuffled(Random rng, int batch)
    {
        var t = Sample(rng, batch);
        for (int i = batch - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (t[i], t[j]) = (t[j], t[i]);
        }
        return t;
    }
}
