using Lddm.Autograd;
using Lddm.Models;
using Lddm.Training.Objectives;
using Lddm.Training.Training;

namespace Lddm.Training.Latent;

/// <summary>One FUJI batch's draw: the tokens' (t_x, masks) exactly as MDLM draws them, and the latent's.</summary>
public sealed record FujiDraw(MdlmDraw Tokens, LatentDraw Latent);

/// <summary>
/// The FUJI-LDDM objective (digest §2.3–2.4). For clean tokens x₀ and y₀ = E(x₀) (zeroed encoder inputs at masked
/// positions with p_r; y₀ = 0 with all_zero_latent): x_t as in MDLM, y_t = ā_{t_y} y₀ + s̄_{t_y} ε; a p_cfg coin per
/// sequence zeroes its y_t, y₀ and latent loss; the MM-DiT sees (x_t, y_t, t_x or 0, t_y) and its token logits give the
/// MDLM loss L_x (through <see cref="MdlmObjective"/>: identical by construction), its latent head L_y.
/// loss = w_x·L_x + w_y·L_y.
/// </summary>
public sealed class FujiObjective
{
    private const ulong NoiseStream = 0x6C6E6F69; // "lnoi"

    public FujiObjective(MdlmObjective tokens, LatentChain chain, LatentObjectiveConfig config)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(config);
        Tokens = tokens;
        Chain = chain;
        Config = config;
    }

    /// <summary>The MDLM objective of the token chain (schedule, time sampler, ELBO weighting, time conditioning).</summary>
    public MdlmObjective Tokens { get; }

    public LatentChain Chain { get; }

    public LatentObjectiveConfig Config { get; }

    /// <summary>The draw of (seed, step); latent dropout and encoder corruption only when <paramref name="training"/>.</summary>
    public FujiDraw Draw(ReadOnlySpan<int> x0, int batch, int length, int maskId, ulong seed, long step, bool training)
    {
        var tokens = Tokens.Draw(x0, batch, length, maskId, seed, step);
        return new FujiDraw(tokens, LatentDraw.Sample(Config, Tokens.Times, tokens, batch, length, maskId, seed, step, training));
    }

    /// <summary>The loss of one batch; every draw is a function of (seed, step). Call inside a tape.</summary>
    public FujiLoss Loss(MmDiT denoiser, ILatentEncoder? encoder, int[] x0, int batch, int length, ulong seed, long step,
        DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(x0);
        var draw = Draw(x0, batch, length, denoiser.Config.Vocab - 1, seed, step, denoiser.Training);
        return Loss(denoiser, encoder, x0, batch, length, draw, seed, step, dropout);
    }

    /// <summary>The loss for a given draw; the Gaussian noise is still drawn from (seed, step).</summary>
    public FujiLoss Loss(MmDiT denoiser, ILatentEncoder? encoder, int[] x0, int batch, int length, FujiDraw draw, ulong seed,
        long step, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(draw);
        var backend = denoiser.Backend;
        int patches = denoiser.Config.Patches, dim = denoiser.Config.PatchDim;
        var latent = draw.Latent;
        if (latent.Times.Length != batch || latent.Keep.Length != batch)
        {
            throw new ArgumentException($"FUJI: the latent draw has {latent.Times.Length} times for a batch of {batch}.", nameof(draw));
        }
        var tY = Array.ConvertAll(latent.Times, t => (float)t);
        Tensor yT, y0;
        Tensor? eps = null;
        if (Config.AllZeroLatent)
        {
            y0 = yT = Tensor.Zeros(backend, new Shape(batch, patches, dim));
        }
        else
        {
            if (encoder is null)
            {
                throw new ArgumentException("FUJI: a latent encoder is needed unless all_zero_latent is set.", nameof(encoder));
            }
            y0 = LatentEncoding.Encode(encoder, backend, x0, batch, length, latent.EncoderKeep, patches, dim);
            var (abar, sbar) = Chain.Noising(latent.Times);
            yT = GaussianNoiseOp.Apply(y0, abar, sbar, seed, NoiseStream, step * (long)batch * patches * dim, out var noise);
            eps = noise;
            if (latent.Keep.Contains(0f))
            {
                var keep = Tensor.FromArray(backend, latent.Keep, batch);
                yT = RowScaleOp.Apply(yT, keep);
                y0 = RowScaleOp.Apply(y0, keep);
            }
        }

        Tensor? head = null;
        var tokenLoss = Tokens.Loss(backend, denoiser.Config.Vocab, (noisy, cond) =>
        {
            var output = denoiser.Forward(noisy, yT, cond, tY, dropout);
            head = output.Latent;
            return output.Logits;
        }, x0, batch, length, draw.Tokens);

        var latentTerm = Config.AllZeroLatent
            ? null
            : LatentTerm.Build(Chain, Config, head!, y0, eps, latent.Times, latent.Keep, length);
        var value = LatentTerm.Combine(tokenLoss.Value, Config.TokenWeight, latentTerm, Config.LatentWeight);
        return new FujiLoss(value, tokenLoss, latentTerm);
    }
}

/// <summary>
/// One FUJI batch's loss. The NELBO per token is the token NELBO (MDLM's) plus the latent ELBO term
/// ½(−SNR′)‖y₀ − ŷ₀‖²/L averaged over the sequences whose latent was not dropped. With a deterministic encoder
/// (y₀ = E(x₀), no σ_lat) the L₀ reconstruction term and the entropy of q_φ are dropped, so this bound is formal (§2.3):
/// it is what LADD logs, not a bound on −log p(x₀) in the strict sense.
/// </summary>
public sealed class FujiLoss(Tensor value, MdlmLoss tokens, LatentTerm? latent) : IStepLoss
{
    /// <summary>w_x·L_x + w_y·L_y (shape (1)); call Backward on it.</summary>
    public Tensor Value { get; } = value;

    /// <summary>The MDLM token term (its loss, draw and NELBO).</summary>
    public MdlmLoss Tokens { get; } = tokens;

    /// <summary>The latent term (null with all_zero_latent).</summary>
    public LatentTerm? Latent { get; } = latent;

    public double NelboPerToken() => Tokens.NelboPerToken() + (Latent?.NelboPerToken() ?? 0);
}

/// <summary>Runs an <see cref="ILatentEncoder"/> on the host batch, with or without gradients.</summary>
internal static class LatentEncoding
{
    /// <summary>
    /// y₀ = E(x₀) (B, P, d). A frozen encoder runs without recording (no gradient, no saved tensors); so does a learned
    /// one when <paramref name="frozen"/> (SEQ stage 2).
    /// </summary>
    public static Tensor Encode(ILatentEncoder encoder, Lddm.Kernels.Backend backend, int[] x0, int batch, int length,
        float[]? encoderKeep, int patches, int dim, bool frozen = false)
    {
        if (encoder.Patches != patches || encoder.PatchDim != dim)
        {
            throw new ArgumentException(
                $"Latent encoder gives {encoder.Patches} patches of {encoder.PatchDim} dims but the network expects {patches} × {dim}.",
                nameof(encoder));
        }
        var tokens = IntTensor.FromArray(backend, x0, batch, length);
        var keep = encoderKeep is null ? null : Tensor.FromArray(backend, encoderKeep, batch, length);
        Tensor y0;
        if (frozen || !encoder.Trainable)
        {
            using (Grad.Off())
            {
                y0 = encoder.Encode(tokens, keep);
            }
        }
        else
        {
            y0 = encoder.Encode(tokens, keep);
        }
        if (y0.Shape != new Shape(batch, patches, dim))
        {
            throw new ArgumentException($"Latent encoder returned {y0.Shape}; expected ({batch}, {patches}, {dim}).", nameof(encoder));
        }
        return y0;
    }
}
