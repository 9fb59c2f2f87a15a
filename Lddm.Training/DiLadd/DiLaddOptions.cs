using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;

namespace Lddm.Training.DiLadd;

/// <summary>
/// How a <see cref="DiLaddModel"/> trains and samples (LADD's Di-LADD): the token chain, the vector quantiser of the
/// frozen encoder's P × d latent (C codes, commitment β, EMA decay), the masked chain over the codes, the loss weights,
/// the stage and the seed of its networks.
/// </summary>
/// <param name="Tokens">The token chain (schedule, NELBO weights, time input). Its ElboWeighting also weights the code
/// chain's cross-entropy (the NELBO is reported either way).</param>
/// <param name="Codes">C, the real codes of the quantiser (the code chain's MASK is code C).</param>
/// <param name="Commitment">β of the quantiser's commitment loss (theirs 0.1). With a frozen encoder no trained
/// parameter reads it: it is added to the loss as the authors do, and moves nothing.</param>
/// <param name="Decay">The codebook's EMA decay (theirs 0.95).</param>
/// <param name="Stage">1: token loss only (the latent head untrained; the codebook settles); 2: both losses; −1 (or 0):
/// both from step 0.</param>
/// <param name="IndependentTimes">Draw the code chain's t_y independently of t_x (the authors'); false: t_y = t_x.</param>
/// <param name="TokenWeight">w_x on the token loss.</param>
/// <param name="LatentWeight">w_y on the code chain's loss (mean over the B·P codes).</param>
/// <param name="Seed">Initialises the networks and the codebook.</param>
public sealed record DiLaddOptions(MdlmOptions Tokens, int Codes, float Commitment = 0.1f, double Decay = 0.95, int Stage = -1,
    bool IndependentTimes = true, double TokenWeight = 1, double LatentWeight = 1, ulong Seed = 1)
{
    /// <summary>The time floor of the code chain's times (LADD's 10⁻⁴).</summary>
    public const double CodeTimeFloor = 1e-4;

    /// <summary>The code chain's masking schedule: linear, as the authors' (α_t = (1 − 2ε)(1 − t) + ε).</summary>
    public static MaskingSchedule CodeSchedule() => MaskingSchedule.Linear();

    /// <summary>The quantiser of d-dimensional latents these options name (dead-code threshold 2, as theirs).</summary>
    public VectorQuantizerConfig Quantizer(int dim) => new(Codes, dim, Commitment, Decay);

    /// <summary>The objective these options name.</summary>
    public DiLaddObjective CreateObjective() => new(Tokens.CreateObjective(),
        new MdlmObjective(CodeSchedule(), new TimeSampler(CodeTimeFloor), new MdlmObjectiveConfig(Tokens.ElboWeighting, TimeConditioning: true)),
        IndependentTimes, TokenWeight, LatentWeight);
}
