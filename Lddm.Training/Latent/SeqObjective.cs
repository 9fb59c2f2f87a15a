using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Objectives;

namespace Lddm.Training.Latent;

/// <summary>
/// The SEQ-LDDM objective (digest §3.2–3.3). The token decoder is an MM-DiT fed the CLEAN latent y₀ = E(x₀) with
/// t_y = 0 (so, like MDLM, no time input unless time conditioning); its MDLM loss goes through
/// <see cref="MdlmObjective"/>. p_cfg zeroes the decoder's y₀ per sequence, p_r corrupts the encoder input the decoder's
/// y₀ is computed from, all_zero_latent feeds it zeros. Stage 1: loss = w_x·L_x, gradients reach the encoder and the
/// decoder. Stage 2 (prior given): the encoder runs without gradient and the latent prior D_ψ(y_t, t_y) learns the
/// encoder outputs: loss = w_x·L_x + w_y·L_y with the same L_y as FUJI. What the prior learns (seq_prior_target):
/// clean (default) = E(x₀) of every sequence, uncorrupted — what the decoder is given at sampling time, where nothing is
/// corrupted; decoder = the y₀ the decoder sees (p_r-corrupted) on the sequences p_cfg keeps, as LADD.
/// </summary>
public sealed class SeqObjective : LddmObjective
{
    private const ulong NoiseStream = 0x736E6F69; // "snoi"

    /// <param name="priorOnDecoderInput">seq_prior_target = decoder: the prior learns the decoder's (corrupted, p_cfg-kept) y₀.</param>
    public SeqObjective(MdlmObjective tokens, LatentChain chain, LatentObjectiveConfig config, bool priorOnDecoderInput = false)
        : base(tokens, chain, config)
    {
        PriorOnDecoderInput = priorOnDecoderInput;
    }

    /// <summary>True: the prior's target is the decoder's y₀ (seq_prior_target = decoder); false: the clean y₀.</summary>
    public bool PriorOnDecoderInput { get; }

    /// <summary>
    /// One batch's loss. <paramref name="prior"/> null: stage 1 (no latent term, the encoder trains); given: stage 2
    /// (the encoder is frozen). Call inside a tape.
    /// </summary>
    public LddmLoss Loss(MmDiT decoder, LatentDiT? prior, ILatentEncoder? encoder, int[] x0, int batch, int length, ulong seed,
        long step, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(x0);
        var draw = Draw(x0, batch, length, decoder.Config.Vocab - 1, seed, step, decoder.Training);
        return Loss(decoder, prior, encoder, x0, batch, length, draw, seed, step, dropout);
    }

    /// <summary>The loss for a given draw; the prior's Gaussian noise is still drawn from (seed, step).</summary>
    public LddmLoss Loss(MmDiT decoder, LatentDiT? prior, ILatentEncoder? encoder, int[] x0, int batch, int length, LddmDraw draw,
        ulong seed, long step, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(draw);
        var backend = decoder.Backend;
        int patches = decoder.Config.Patches, dim = decoder.Config.PatchDim;
        var latent = draw.Latent;
        bool stage2 = prior is not null;
        if (prior is not null && (prior.Config.Patches != patches || prior.Config.PatchDim != dim))
        {
            throw new ArgumentException(
                $"SEQ: the prior models {prior.Config.Patches} × {prior.Config.PatchDim} latents but the decoder reads {patches} × {dim}.", nameof(prior));
        }
        var (target, conditioning) = Config.AllZeroLatent
            ? ((Tensor?)null, Tensor.Zeros(backend, new Shape(batch, patches, dim)))
            : Encoded(encoder, backend, x0, batch, length, latent, patches, dim, stage2, PriorOnDecoderInput);

        var tY = new float[batch]; // the decoder always sees t_y = 0: its latent is clean
        var tokenLoss = Tokens.Loss(backend, decoder.Config.Vocab,
            (noisy, cond) => decoder.Forward(noisy, conditioning, cond, tY, dropout).Logits, x0, batch, length, draw.Tokens);

        var latentTerm = stage2 && target is not null ? PriorTerm(prior!, target, latent, length, seed, step, dropout) : null;
        var value = LatentTerm.Combine(tokenLoss.Value, Config.TokenWeight, latentTerm, Config.LatentWeight);
        return new LddmLoss(value, tokenLoss, latentTerm);
    }

    /// <summary>
    /// The y₀ the prior learns (stage 2; null in stage 1 when nothing else needs it) and the decoder's conditioning: y₀ of
    /// the corrupted encoder input when p_r applies, with the p_cfg rows zeroed. The prior's y₀ is the clean E(x₀), or
    /// with <paramref name="decoderTarget"/> the conditioning before the p_cfg rows are zeroed (those rows then carry no
    /// prior loss). Stage 2 runs the encoder without gradient.
    /// </summary>
    private static (Tensor? Target, Tensor Conditioning) Encoded(ILatentEncoder? encoder, Backend backend, int[] x0, int batch,
        int length, LatentDraw latent, int patches, int dim, bool stage2, bool decoderTarget)
    {
        if (encoder is null)
        {
            throw new ArgumentException("SEQ: a latent encoder is needed unless all_zero_latent is set.", nameof(encoder));
        }
        Tensor? clean = (stage2 && !decoderTarget) || latent.EncoderKeep is null
            ? LatentEncoding.Encode(encoder, backend, x0, batch, length, null, patches, dim, frozen: stage2)
            : null;
        var corrupted = latent.EncoderKeep is null
            ? clean!
            : LatentEncoding.Encode(encoder, backend, x0, batch, length, latent.EncoderKeep, patches, dim, frozen: stage2);
        var conditioning = latent.Keep.Contains(0f)
            ? RowScaleOp.Apply(corrupted, Tensor.FromArray(backend, latent.Keep, batch))
            : corrupted;
        return (decoderTarget ? corrupted : clean, conditioning);
    }

    /// <summary>The prior's term: D_ψ(y_t, t_y) against y₀ (or ε): on every sequence for the clean target (p_cfg is the
    /// decoder's, not the prior's), on the p_cfg-kept ones for the decoder's.</summary>
    private LatentTerm PriorTerm(LatentDiT prior, Tensor clean, LatentDraw latent, int length, ulong seed, long step, DropoutRng? dropout)
    {
        int batch = clean.Shape[0];
        var (abar, sbar) = Chain.Noising(latent.Times);
        var yT = GaussianNoiseOp.Apply(clean, abar, sbar, seed, NoiseStream, step * (long)clean.Shape.Elements, out var eps);
        var prediction = prior.Forward(yT, Array.ConvertAll(latent.Times, t => (float)t), dropout);
        var rows = PriorOnDecoderInput ? latent.Keep : Enumerable.Repeat(1f, batch).ToArray();
        return LatentTerm.Build(Chain, Config, prediction, clean, eps, latent.Times, rows, length);
    }
}
