namespace Lddm.Training.Optim;

/// <summary>After warm-up: hold the peak rate (MDLM, LADD) or decay it along a cosine to a floor.</summary>
public enum DecayKind
{
    Constant,
    Cosine,
}

/// <summary>
/// Linear warm-up from 0 to <see cref="Peak"/> over <see cref="WarmupSteps"/>, then constant, or a cosine decay to
/// <see cref="MinRatio"/>·Peak at <see cref="TotalSteps"/>. Step numbers start at 1.
/// </summary>
public sealed record LearningRateSchedule(double Peak, int WarmupSteps, DecayKind Decay = DecayKind.Constant, int TotalSteps = 0, double MinRatio = 0.1)
{
    public void Validate()
    {
        if (!(Peak > 0) || double.IsInfinity(Peak))
        {
            throw new ArgumentOutOfRangeException(nameof(Peak), Peak, "The peak learning rate must be finite and > 0.");
        }
        if (WarmupSteps < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, "Warm-up steps must be ≥ 0.");
        }
        if (Decay == DecayKind.Cosine && TotalSteps <= WarmupSteps)
        {
            throw new ArgumentOutOfRangeException(nameof(TotalSteps), TotalSteps, $"A cosine decay needs total steps > warm-up steps ({WarmupSteps}).");
        }
        if (MinRatio is < 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MinRatio), MinRatio, "The cosine floor ratio must be in [0, 1].");
        }
    }

    /// <summary>The rate for step <paramref name="step"/> (1-based).</summary>
    public double At(int step)
    {
        if (step < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, "Steps are numbered from 1.");
        }
        if (step <= WarmupSteps)
        {
            return Peak * step / WarmupSteps;
        }
        if (Decay == DecayKind.Constant)
        {
            return Peak;
        }
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps));
        return Peak * (MinRatio + (1 - MinRatio) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}
