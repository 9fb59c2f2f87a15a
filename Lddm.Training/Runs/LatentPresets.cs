using Lddm.Models;

namespace Lddm.Training.Runs;

/// <summary>The network sizes an LDDM config names (§6): the denoiser/decoder from <c>preset</c>, the learned encoder
/// and SEQ's latent prior from <c>encoder_preset</c>.</summary>
public static class LatentPresets
{
    /// <summary>The MM-DiT: the MDLM DiT of <c>preset</c> (dropout included) with a P × d latent stream.</summary>
    public static MmDiTConfig Denoiser(TrainConfig c, int vocabulary) =>
        MmDiTConfig.From(TrainingRun.ModelConfig(c, vocabulary), c.LatentPatches, c.LatentDim);

    /// <summary>The learned encoder: the DiT of <c>encoder_preset</c>, no dropout, optional per-patch L2 normalisation.</summary>
    public static DiTEncoderConfig Encoder(TrainConfig c, int vocabulary) =>
        DiTEncoderConfig.From(TrainingRun.Preset(c.EncoderPreset, vocabulary, c.Length, 0f), c.LatentPatches, c.LatentDim, c.LatentNormalize);

    /// <summary>SEQ's latent prior: the DiT of <c>encoder_preset</c> over P patches of d dims, with the run's dropout.</summary>
    public static LatentDiTConfig Prior(TrainConfig c, int vocabulary) =>
        LatentDiTConfig.From(TrainingRun.Preset(c.EncoderPreset, vocabulary, c.Length, (float)c.Dropout), c.LatentPatches, c.LatentDim);
}
