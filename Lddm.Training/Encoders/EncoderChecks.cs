using Lddm.Models;

namespace Lddm.Training.Encoders;

/// <summary>Checks shared by FUJI and SEQ on where y₀ comes from.</summary>
public static class EncoderChecks
{
    /// <summary>Exactly one source of y₀ (unless the latent is all zeros), matching the network's P × d and vocabulary.</summary>
    public static void Check(string owner, bool allZeroLatent, MmDiTConfig denoiser, DiTEncoderConfig? encoder, ILatentEncoder? frozen)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        if (encoder is not null && frozen is not null)
        {
            throw new ArgumentException($"{owner}: give a learned encoder config or a frozen encoder, not both.", nameof(frozen));
        }
        if (frozen is { Trainable: true })
        {
            throw new ArgumentException($"{owner}: the frozen encoder reports Trainable = true; a trainable encoder must live in the network.", nameof(frozen));
        }
        if (encoder is null && frozen is null && !allZeroLatent)
        {
            throw new ArgumentException(
                $"{owner}: the latent needs a source: a learned encoder config or a frozen encoder passed to Create (or all_zero_latent).",
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
