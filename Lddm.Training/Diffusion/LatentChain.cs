namespace Lddm.Training.Diffusion;

/// <summary>DDPM step t → s (§1.3): y_s = CoefYt·y_t + CoefY0·ŷ₀ + Sigma·z, z ~ N(0, I).</summary>
/// <param name="Sigma">σ̃ = √(σ²_{t|s} s̄²_s / s̄²_t), the posterior standard deviation.</param>
public readonly record struct DdpmCoefficients(double CoefYt, double CoefY0, double Sigma);

/// <summary>DDIM step t → s (§4.2): ε̂ = (y_t − ā_t ŷ₀)/s̄_t, y_s = ā_s ŷ₀ + s̄_s ε̂.</summary>
public readonly record struct DdimCoefficients(double AbarT, double SbarT, double AbarS, double SbarS)
{
    /// <summary>y_s as a combination of y_t and ŷ₀: y_s = (s̄_s/s̄_t)·y_t + (ā_s − s̄_s ā_t/s̄_t)·ŷ₀.</summary>
    public (double FromYt, double FromY0) Linear => (SbarS / SbarT, AbarS - SbarS * AbarT / SbarT);
}

/// <summary>
/// The latent (Gaussian) chain of LDDM in float64 on the host (digest §1.3, §2.3, §4.2): what the objectives and
/// samplers hand the Gaussian kernels, one float per sequence. y_t = ā_t y₀ + s̄_t ε, s̄²_t = 1 − ā²_t, with ā²_t from
/// <see cref="GaussianSchedule"/>.
/// </summary>
public sealed class LatentChain
{
    public LatentChain(GaussianSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        Schedule = schedule;
    }

    public GaussianSchedule Schedule { get; }

    public double Abar(double t) => Schedule.Abar(t);

    public double Sbar(double t) => Schedule.Sbar(t);

    /// <summary>Per-sequence ā_{t_b} and s̄_{t_b} as the float buffers the noising kernel reads.</summary>
    public (float[] Abar, float[] Sbar) Noising(ReadOnlySpan<double> t)
    {
        var abar = new float[t.Length];
        var sbar = new float[t.Length];
        for (int b = 0; b < t.Length; b++)
        {
            abar[b] = (float)Schedule.Abar(t[b]);
            sbar[b] = (float)Schedule.Sbar(t[b]);
        }
        return (abar, sbar);
    }

    /// <summary>Ancestral step t → s: the posterior q(y_s | y_t, y₀ = ŷ₀) of §1.3 (0 ≤ s &lt; t ≤ 1).</summary>
    public DdpmCoefficients Ddpm(double t, double s)
    {
        var p = Schedule.Posterior(s, t);
        return new DdpmCoefficients(p.CoefYt, p.CoefY0, Math.Sqrt(Math.Max(p.Variance, 0)));
    }

    /// <summary>Deterministic step t → s (0 ≤ s &lt; t ≤ 1).</summary>
    public DdimCoefficients Ddim(double t, double s)
    {
        ScheduleChecks.Time(t, nameof(t));
        ScheduleChecks.Time(s, nameof(s));
        if (!(s < t))
        {
            throw new ArgumentOutOfRangeException(nameof(s), s, FormattableString.Invariant($"DDIM step needs s < t; got s = {s}, t = {t}."));
        }
        return new DdimCoefficients(Schedule.Abar(t), Schedule.Sbar(t), Schedule.Abar(s), Schedule.Sbar(s));
    }

    /// <summary>
    /// The continuous-time latent ELBO weight ½·(−dSNR/dt) (§2.3) on ‖y₀ − ŷ₀‖² per sequence; its integral over t is
    /// the latent chain's bound. Finite on [0, 1) (→ ∞ at t = 1 for sqrt, an integrable 1/√(1 − t)).
    /// </summary>
    public double ElboWeight(double t) => -0.5 * Schedule.SnrPrime(t);

    /// <summary>
    /// The same weight on ‖ε − ε̂‖² for eps-prediction: y₀ − ŷ₀ = (s̄_t/ā_t)(ε̂ − ε), so it is ½(−SNR′)/SNR.
    /// </summary>
    public double ElboWeightEps(double t) => ElboWeight(t) / Schedule.Snr(t);

    /// <summary>ŷ₀ from ε̂: y₀ = FromYt·y_t + FromEps·ε with FromYt = 1/ā_t, FromEps = −s̄_t/ā_t.</summary>
    public (double FromYt, double FromEps) EpsToY0(double t)
    {
        double a = Schedule.Abar(t);
        return (1 / a, -Schedule.Sbar(t) / a);
    }

    /// <summary>ε from y₀: ε = FromYt·y_t + FromY0·y₀ with FromYt = 1/s̄_t, FromY0 = −ā_t/s̄_t.</summary>
    public (double FromYt, double FromY0) Y0ToEps(double t)
    {
        double s = Schedule.Sbar(t);
        return (1 / s, -Schedule.Abar(t) / s);
    }

    public override string ToString() => $"latent chain ({Schedule})";
}
