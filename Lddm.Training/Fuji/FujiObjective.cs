using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Encoders;
using Lddm.Training.Mdlm;

namespace Lddm.Training.Fuji;

/// <summary>
/// The FUJI-LDDM objective (digest §2.3–2.4). For clean tokens x₀ and y₀ = E(x₀) (zeroed encoder inputs at masked
/// positions with p_r; y₀ = 0 with all_zero_latent): x_t as in MDLM, y_t = ā_{t_y} y₀ + s̄_{t_y} ε; a p_cfg coin per
/// sequence zeroes its y_t, y₀ and latent loss; the MM-DiT sees (x_t, y_t, t_x or 0, t_y) and its token logits give the
/// MDLM loss L_x (through <see cref="MdlmObjective"/>: identical by construction), its latent head L_y.
/// loss = w_x·L_x + w_y·L_y.
/// </summary>
public sealed class FujiObjective : LddmObjective
{
    private const ulong NoiseStream = 0x6C6E6F69; // "lnoi"

    public FujiObjective(MdlmObjective tokens, LatentChain chain, LatentObjectiveConfig config)
        : base(tokens, chain, config)
    {
    }

    /// <summary>
    /// The loss of one batch; every draw is a function of (seed, step). <paramref name="latentLoss"/> false: stage 1
    /// (the MM-DiT still reads y_t, but there is no latent term, so the latent head gets no gradient). Call inside a tape.
    /// </summary>
    public LddmLoss Loss(MmDiT denoiser, ILatentEncoder? encoder, int[] x0, int batch, int length, ulong seed, long step,
        DropoutRng? dropout = null, bool latentLoss = true)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(x0);
        var draw = Draw(x0, batch, length, denoiser.Config.Vocab - 1, seed, step, denoiser.Training);
        return Loss(denoiser, encoder, x0, batch, length, draw, seed, step, dropout, latentLoss);
    }

    /// <summary>The loss for a given draw; the Gaussian noise is still drawn from (seed, step).</summary>
    public LddmLoss Loss(MmDiT denoiser, ILatentEncoder? encoder, int[] x0, int batch, int length, LddmDraw draw, ulong seed,
        long step, DropoutRng? dropout = null, bool latentLoss = true)
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
        var (y0, yT, eps) = Config.AllZeroLatent
            ? (Zeros(backend, batch, patches, dim), Zeros(backend, batch, patches, dim), (Tensor?)null)
            : Noised(encoder, backend, x0, batch, length, latent, patches, dim, seed, step);

        Tensor? head = null;
        var tokenLoss = Tokens.Loss(backend, denoiser.Config.Vocab, (noisy, cond) =>
        {
            var output = denoiser.Forward(noisy, yT, cond, tY, dropout);
            head = output.Latent;
            return output.Logits;
        }, x0, batch, length, draw.Tokens);

        var latentTerm = Config.AllZeroLatent || !latentLoss
            ? null
            : LatentTerm.Build(Chain, Config, head!, y0, eps, latent.Times, latent.Keep, length);
        var value = LatentTerm.Combine(tokenLoss.Value, Config.TokenWeight, latentTerm, Config.LatentWeight);
        return new LddmLoss(value, tokenLoss, latentTerm);
    }

    /// <summary>
    /// y₀ = E(x₀) (encoder inputs zeroed where the draw says), y_t = ā y₀ + s̄ ε with ε from (seed, step), and the p_cfg
    /// rows of both zeroed.
    /// </summary>
    private (Tensor Y0, Tensor Yt, Tensor? Eps) Noised(ILatentEncoder? encoder, Backend backend, int[] x0, int batch, int length,
        LatentDraw latent, int patches, int dim, ulong seed, long step)
    {
        if (encoder is null)
        {
            throw new ArgumentException("FUJI: a latent encoder is needed unless all_zero_latent is set.", nameof(encoder));
        }
        var y0 = LatentEncoding.Encode(encoder, backend, x0, batch, length, latent.EncoderKeep, patches, dim);
        var (abar, sbar) = Chain.Noising(latent.Times);
        var yT = GaussianNoiseOp.Apply(y0, abar, sbar, seed, NoiseStream, step * (long)batch * patches * dim, out var eps);
        if (latent.Keep.Contains(0f))
        {
            var keep = Tensor.FromArray(backend, latent.Keep, batch);
            yT = RowScaleOp.Apply(yT, keep);
            y0 = RowScaleOp.Apply(y0, keep);
        }
        return (y0, yT, eps);
    }

    private static Tensor Zeros(Backend backend, int batch, int patches, int dim) => Tensor.Zeros(backend, new Shape(batch, patches, dim));
}
