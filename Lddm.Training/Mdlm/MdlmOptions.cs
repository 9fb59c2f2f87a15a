using Lddm.Training.Diffusion;

namespace Lddm.Training.Mdlm;

/// <summary>The masking schedule α_t of the token chain (digest §8.1).</summary>
public enum MaskScheduleKind
{
    /// <summary>MDLM's default (§8.1): α_t = 1 − (1 − ε)t, ε = 10⁻³.</summary>
    LogLinear,

    /// <summary>LADD's default (§1.2): α_t = (1 − 2ε)(1 − t) + ε, ε = 10⁻⁴.</summary>
    Linear,
}

/// <summary>
/// The token-chain options of MDLM (and of the token half of FUJI and SEQ): schedule, NELBO weights, time input.
/// </summary>
/// <param name="MaskSchedule">α_t's shape.</param>
/// <param name="ElboWeighting">Weight each masked position's cross-entropy by the NELBO weight (else 1).</param>
/// <param name="TimeConditioning">Feed t to the network (MDLM's default is no time input).</param>
public sealed record MdlmOptions(MaskScheduleKind MaskSchedule = MaskScheduleKind.LogLinear, bool ElboWeighting = true, bool TimeConditioning = false)
{
    /// <summary>The masking schedule these options name.</summary>
    public MaskingSchedule CreateSchedule() => MaskSchedule switch
    {
        MaskScheduleKind.LogLinear => MaskingSchedule.LogLinear(),
        MaskScheduleKind.Linear => MaskingSchedule.Linear(),
        _ => throw new ArgumentOutOfRangeException(nameof(MaskSchedule), MaskSchedule, "expected LogLinear or Linear"),
    };

    /// <summary>The MDLM objective these options name (uniform time sampler).</summary>
    public MdlmObjective CreateObjective() => new(CreateSchedule(), new TimeSampler(), new MdlmObjectiveConfig(ElboWeighting, TimeConditioning));
}
