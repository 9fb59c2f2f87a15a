using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;

namespace Lddm.Training.Fuji;

/// <summary>
/// How a <see cref="FujiModel"/> trains and samples: the token chain, the latent channel, the stage and the seed that
/// initialises its networks.
/// </summary>
/// <param name="Tokens">The token chain (schedule, NELBO weights, time input).</param>
/// <param name="Latent">The latent channel.</param>
/// <param name="Stage">1: MM-DiT + learned encoder on the token loss alone; 2: encoder frozen, both losses; −1 (or 0):
/// one joint stage.</param>
/// <param name="Seed">Initialises the networks.</param>
public sealed record FujiOptions(MdlmOptions Tokens, LatentOptions Latent, int Stage = -1, ulong Seed = 1);
