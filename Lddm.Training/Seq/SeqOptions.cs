using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;

namespace Lddm.Training.Seq;

/// <summary>What SEQ's latent prior learns in stage 2.</summary>
public enum SeqPriorTarget
{
    /// <summary>E(x₀) of every sequence, uncorrupted (default).</summary>
    Clean,

    /// <summary>The p_r-corrupted y₀ the decoder sees, on the sequences p_cfg keeps (LADD).</summary>
    Decoder,
}

/// <summary>How a <see cref="SeqModel"/> trains and samples.</summary>
/// <param name="Tokens">The token chain of the decoder.</param>
/// <param name="Latent">The latent channel.</param>
/// <param name="Stage">1: encoder + decoder; 2: encoder frozen, decoder + prior.</param>
/// <param name="PriorTarget">What the prior learns.</param>
/// <param name="PriorRepeats">(t, ε) draws per sequence in the prior's loss.</param>
/// <param name="LatentSteps">Prior steps N_lat when sampling (0 = the token steps N).</param>
/// <param name="Seed">Initialises the networks.</param>
public sealed record SeqOptions(MdlmOptions Tokens, LatentOptions Latent, int Stage, SeqPriorTarget PriorTarget = SeqPriorTarget.Clean,
    int PriorRepeats = 1, int LatentSteps = 0, ulong Seed = 1);
