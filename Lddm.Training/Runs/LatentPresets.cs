using Lddm.Models;
using Lddm.Training.Encoders;
using Lddm.Training.Fuji;
using Lddm.Training.Seq;

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

/// <summary>Checks shared by <see cref="FujiModel"/> and <see cref="SeqModel"/>.</summary>
internal static class LatentModels
{
    /// <summary>Exactly one source of y₀ (unless all_zero_latent), matching the network's P × d and vocabulary.</summary>
    public static void CheckEncoders(string owner, TrainConfig config, MmDiTConfig denoiser, DiTEncoderConfig? encoder, ILatentEncoder? frozen)
    {
        if (encoder is not null && frozen is not null)
        {
            throw new ArgumentException($"{owner}: give a learned encoder config or a frozen encoder, not both.", nameof(frozen));
        }
        if (frozen is { Trainable: true })
        {
            throw new ArgumentException($"{owner}: the frozen encoder reports Trainable = true; a trainable encoder must live in the network.", nameof(frozen));
        }
        if (encoder is null && frozen is null && !config.AllZeroLatent)
        {
            throw new ArgumentException(
                $"{owner}: encoder = {config.Encoder} needs {(config.Encoder == "frozen-ar" ? "the frozen encoder passed to Create" : "a learned encoder config")} (or all_zero_latent).",
                nameof(encoder));
        }
        (int p, int d) = encoder is not null ? (encoder.Patches, encoder.PatchDim) : frozen is not null ? (frozen.Patches, frozen.PatchDim) : (denoiser.Patches, denoiser.PatchDim);
        if (p != denoiser.Patches || d != denoiser.PatchDim)
        {
            throw new ArgumentException($"{owner}: the encoder gives {p} × {d} latents but the network takes {denoiser.Patches} × {denoiser.PatchDim}.", nameof(encoder));
        }
        if (encoder is not null && encoder.Vocab != denoiser.Vocab)
        {
            throw new ArgumentException($"{owner}: encoder vocabulary {encoder.Vocab} differs from the network's {denoiser.Vocab}.", nameof(encoder));
        }
    }
}
