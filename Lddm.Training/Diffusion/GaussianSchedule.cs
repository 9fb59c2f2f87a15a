namespace Lddm.Training.Diffusion;

/// <summary>The raw shape of ā²_t before clipping (§1.3).</summary>
public enum GaussianScheduleKind
{
    /// <summary>ā²_t = √(1 − t) (default for the latent chain).</summary>
    Sqrt,

    /// <summary>ā²_t = cos²((t + 0.008)/1.008 · π/2).</summary>
    Cosine,

    /// <summary>ā²_t = 1 − t.</summary>
    Linear,

    /// <summary>ā²_t = 1 − t^p.</summary>
    Poly,
}

/// <summary>
/// Coefficients of the Gaussian posterior q(y_s | y_t, y_0) = N(μ, σ̃² I), μ = <see cref="CoefYt"/>·y_t +
/// <see cref="CoefY0"/>·y_0, for s &lt; t.
/// </summary>
public readonly record struct GaussianPosterior(double CoefYt, double CoefY0, double Variance);

/// <summary>
/// Variance-preserving Gaussian schedule of the latent chain (§1.3): y_t = ā_t y_0 + s̄_t ε, s̄²_t = 1 − ā²_t.
/// Every shape is clipped the same way: A(t) = (1 − 2·10⁻⁴)·A_raw(t) + 10⁻⁴ with A = ā²_t, so A ∈ [10⁻⁴, 1 − 10⁻⁴].
/// </summary>
public sealed class GaussianSchedule
{
    /// <summary>The clip of §1.3: A ∈ [Clip, 1 − Clip].</summary>
    public const double Clip = 1e-4;

    public GaussianSchedule(GaussianScheduleKind kind = GaussianScheduleKind.Sqrt, double power = 2)
    {
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown Gaussian schedule kind.");
        }
        if (!(power > 0 && double.IsFinite(power)))
        {
            throw new ArgumentOutOfRangeException(nameof(power), power, "Poly schedule power p must be finite and > 0.");
        }
        Kind = kind;
        Power = power;
    }

    public GaussianScheduleKind Kind { get; }

    /// <summary>p of the poly schedule (ignored by the others).</summary>
    public double Power { get; }

    /// <summary>A(t) = ā²_t = (1 − 2·10⁻⁴)·A_raw(t) + 10⁻⁴.</summary>
    public double AbarSquared(double t)
    {
        ScheduleChecks.Time(t);
        return (1 - 2 * Clip) * Raw(t) + Clip;
    }

    /// <summary>dA/dt = (1 − 2·10⁻⁴)·A_raw′(t) (−∞ at t = 1 for sqrt).</summary>
    public double AbarSquaredPrime(double t)
    {
        ScheduleChecks.Time(t);
        return (1 - 2 * Clip) * RawPrime(t);
    }

    /// <summary>ā_t = √A(t).</summary>
    public double Abar(double t) => Math.Sqrt(AbarSquared(t));

    /// <summary>s̄²_t = 1 − A(t).</summary>
    public double SbarSquared(double t) => 1 - AbarSquared(t);

    /// <summary>s̄_t = √(1 − A(t)).</summary>
    public double Sbar(double t) => Math.Sqrt(SbarSquared(t));

    /// <summary>SNR(t) = ā²_t / s̄²_t.</summary>
    public double Snr(double t)
    {
        double a = AbarSquared(t);
        return a / (1 - a);
    }

    /// <summary>dSNR/dt = A′ / (1 − A)² (negative); −SNR′ weights the continuous latent ELBO term (§2.3).</summary>
    public double SnrPrime(double t)
    {
        double a = AbarSquared(t);
        return AbarSquaredPrime(t) / ((1 - a) * (1 - a));
    }

    /// <summary>
    /// Posterior of y_s given y_t and y_0 for 0 ≤ s &lt; t ≤ 1 (§1.3):
    /// <code>
    ///   α²_{t|s} = ā²_t / ā²_s,   σ²_{t|s} = s̄²_t − α²_{t|s} s̄²_s,
    ///   μ = α_{t|s} s̄²_s / s̄²_t · y_t + ā_s σ²_{t|s} / s̄²_t · y_0,   σ̃² = σ²_{t|s} s̄²_s / s̄²_t.
    /// </code>
    /// </summary>
    public GaussianPosterior Posterior(double s, double t)
    {
        ScheduleChecks.Time(s, nameof(s));
        ScheduleChecks.Time(t, nameof(t));
        if (!(s < t))
        {
            throw new ArgumentOutOfRangeException(nameof(s), s, FormattableString.Invariant($"Posterior needs s < t; got s = {s}, t = {t}."));
        }
        double aS = AbarSquared(s), aT = AbarSquared(t);
        double sbS = 1 - aS, sbT = 1 - aT;
        double alphaTs2 = aT / aS;
        double sigmaTs2 = sbT - alphaTs2 * sbS;
        return new GaussianPosterior(
            CoefYt: Math.Sqrt(alphaTs2) * sbS / sbT,
            CoefY0: Math.Sqrt(aS) * sigmaTs2 / sbT,
            Variance: sigmaTs2 * sbS / sbT);
    }

    public override string ToString() => Kind == GaussianScheduleKind.Poly
        ? FormattableString.Invariant($"poly(p={Power})")
        : Kind.ToString().ToLowerInvariant();

    private double Raw(double t) => Kind switch
    {
        GaussianScheduleKind.Sqrt => Math.Sqrt(1 - t),
        GaussianScheduleKind.Cosine => Square(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2)),
        GaussianScheduleKind.Linear => 1 - t,
        _ => 1 - Math.Pow(t, Power),
    };

    private double RawPrime(double t) => Kind switch
    {
        GaussianScheduleKind.Sqrt => -0.5 / Math.Sqrt(1 - t),
        GaussianScheduleKind.Cosine => -Math.PI / 2 / 1.008 * Math.Sin((t + 0.008) / 1.008 * Math.PI),
        GaussianScheduleKind.Linear => -1,
        _ => -Power * Math.Pow(t, Power - 1),
    };

    private static double Square(double x) => x * x;
}
