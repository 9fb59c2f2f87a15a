namespace Lddm.Training.Diffusion;

/// <summary>
/// Masking schedule of the discrete chain (digest §1.2, §8.1): each token is kept with probability α_t and
/// replaced by MASK otherwise, q(x_t | x_0) = Cat(α_t·onehot(x_0) + (1 − α_t)·onehot(m)). α decreases from ≈1 at
/// t = 0 to ≈0 at t = 1.
/// </summary>
public abstract class MaskingSchedule
{
    private protected MaskingSchedule(double epsilon, string name)
    {
        Epsilon = ScheduleChecks.Epsilon(epsilon, name);
    }

    /// <summary>The clipping ε.</summary>
    public double Epsilon { get; }

    /// <summary>α_t, the probability that a token is still clean at time t.</summary>
    public double Alpha(double t)
    {
        ScheduleChecks.Time(t);
        return AlphaCore(t);
    }

    /// <summary>α′_t = dα_t/dt (negative).</summary>
    public double AlphaPrime(double t)
    {
        ScheduleChecks.Time(t);
        return AlphaPrimeCore(t);
    }

    /// <summary>
    /// The continuous-time NELBO weight on the cross-entropy of a masked position (§8.3): w(t) = −α′_t / (1 − α_t).
    /// +∞ where α_t = 1.
    /// </summary>
    public double NelboWeight(double t) => -AlphaPrime(t) / (1 - Alpha(t));

    /// <summary>MDLM's default (§8.1): α_t = 1 − (1 − ε)t, ε = 10⁻³.</summary>
    public static MaskingSchedule LogLinear(double epsilon = 1e-3) => new LogLinearMaskingSchedule(epsilon);

    /// <summary>LADD's default (§1.2): α_t = (1 − 2ε)(1 − t) + ε, ε = 10⁻⁴.</summary>
    public static MaskingSchedule Linear(double epsilon = 1e-4) => new LinearMaskingSchedule(epsilon);

    private protected abstract double AlphaCore(double t);

    private protected abstract double AlphaPrimeCore(double t);
}

/// <summary>
/// MDLM's log-linear schedule (§8.1): total noise σ(t) = −log(1 − (1 − ε)t), so α_t = e^{−σ(t)} = 1 − (1 − ε)t and
/// α′_t = −(1 − ε); the NELBO weight is −α′/(1 − α) = 1/t exactly.
/// </summary>
public sealed class LogLinearMaskingSchedule(double epsilon = 1e-3) : MaskingSchedule(epsilon, "LogLinear masking schedule")
{
    private protected override double AlphaCore(double t) => 1 - (1 - Epsilon) * t;

    private protected override double AlphaPrimeCore(double t) => -(1 - Epsilon);

    public override string ToString() => FormattableString.Invariant($"log-linear(ε={Epsilon})");
}

/// <summary>
/// LADD's linear schedule with clipping at both ends (§1.2): α_t = (1 − 2ε)(1 − t) + ε ∈ [ε, 1 − ε],
/// α′_t = −(1 − 2ε).
/// </summary>
public sealed class LinearMaskingSchedule(double epsilon = 1e-4) : MaskingSchedule(epsilon, "Linear masking schedule")
{
    private protected override double AlphaCore(double t) => (1 - 2 * Epsilon) * (1 - t) + Epsilon;

    private protected override double AlphaPrimeCore(double t) => -(1 - 2 * Epsilon);

    public override string ToString() => FormattableString.Invariant($"linear(ε={Epsilon})");
}
