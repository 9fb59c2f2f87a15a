using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Encoders;
using Lddm.Training.Mdlm;

namespace Lddm.Training.Seq;

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
    /// <param name="priorRepeats">K: stage 2 trains the prior on K (t, ε) draws of each sequence's y₀ (prior_repeats).</param>
    public SeqObjective(MdlmObjective tokens, LatentChain chain, LatentObjectiveConfig config, bool priorOnDecoderInput = false,
        int priorRepeats = 1)
        : base(tokens, chain, config)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(priorRepeats, 1);
        PriorOnDecoderInput = priorOnDecoderInput;
        PriorRepeats = priorRepeats;
    }

    /// <summary>True: the prior's target is the decoder's y₀ (seq_prior_target = decoder); false: the clean y₀.</summary>
    public bool PriorOnDecoderInput { get; }

    /// <summary>K, the (t, ε) draws per sequence the prior's term averages over.</summary>
    public int PriorRepeats { get; }

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

    /// <summary>
    /// The prior's term: D_ψ(y_t, t_y) against y₀ (or ε): on every sequence for the clean target (p_cfg is the
    /// decoder's, not the prior's), on the p_cfg-kept ones for the decoder's (seq_prior_target);
    /// averaged over K = <see cref="PriorRepeats"/> draws per sequence: copy k uses t_k = t_y rotated by k/K of the
    /// time range (so the K times of a sequence are stratified, each still uniform) and its own ε. With P·d ≪ L the
    /// prior costs little beside the decoder, so K multiplies its training signal almost for free.
    /// </summary>
    private LatentTerm PriorTerm(LatentDiT prior, Tensor clean, LatentDraw latent, int length, ulong seed, long step, DropoutRng? dropout)
    {
        int batch = clean.Shape[0], k = PriorRepeats;
        var times = new double[batch * k];
        double floor = Tokens.Times.Epsilon; // times live in [ε, 1]: rotate within it
        for (int r = 0; r < k; r++)
        {
            for (int b = 0; b < batch; b++)
            {
                double u = (latent.Times[b] - floor) / (1 - floor) + (double)r / k;
                times[r * batch + b] = floor + (1 - floor) * (u - Math.Floor(u));
            }
        }
        var y0 = k == 1 ? clean : ConcatOp.Apply(Enumerable.Repeat(clean, k).ToArray(), 0); // (K·B, P, d)
        var (abar, sbar) = Chain.Noising(times);
        var yT = GaussianNoiseOp.Apply(y0, abar, sbar, seed, NoiseStream, step * (long)y0.Shape.Elements, out var eps);
        var prediction = prior.Forward(yT, Array.ConvertAll(times, t => (float)t), dropout);
        var rows = new float[batch * k];
        for (int r = 0; r < k; r++)
        {
            for (int b = 0; b < batch; b++)
            {
                rows[r * batch + b] = PriorOnDecoderInput ? latent.Keep[b] : 1f;
            }
        }
        return LatentTerm.Build(Chain, Config, prediction, y0, eps, times, rows, length);
    }
}
