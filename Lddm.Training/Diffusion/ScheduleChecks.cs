namespace Lddm.Training.Diffusion;

/// <summary>Argument checks shared by the schedules, with messages that name the bad value.</summary>
internal static class ScheduleChecks
{
    /// <summary>Every schedule is defined on t ∈ [0, 1] (t = 0 clean, t = 1 fully noised).</summary>
    public static void Time(double t, string name = "t")
    {
        if (!(t >= 0 && t <= 1))
        {
            throw new ArgumentOutOfRangeException(name, t, $"Diffusion time {name} must lie in [0, 1].");
        }
    }

    /// <summary>The clipping ε must lie in (0, 0.5) so that α stays strictly inside (0, 1).</summary>
    public static double Epsilon(double epsilon, string owner)
    {
        if (!(epsilon > 0 && epsilon < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"{owner}: ε must lie in (0, 0.5).");
        }
        return epsilon;
    }
}
