using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Training.Encoders;
using Lddm.Training.Engine;
using Lddm.Training.Mdlm;

namespace Lddm.Training.Diffusion;

/// <summary>The latent-channel options shared by FUJI and SEQ (digest §2.4, §3.2, §5).</summary>
/// <param name="TokenWeight">w_x on the MDLM token loss.</param>
/// <param name="LatentWeight">w_y on the latent loss.</param>
/// <param name="EpsPrediction">The latent head predicts ε instead of y₀.</param>
/// <param name="ElboLatentLoss">Weight the latent squared error by the continuous ELBO weight (per token, so with
/// token ELBO weights too the loss is the NELBO estimate); false: plain MSE over every latent coordinate.</param>
/// <param name="LatentDropout">p_cfg: the fraction of sequences whose latent is zeroed (training mode only).</param>
/// <param name="EncoderCorruption">p_r (training mode only): per sequence p_r ~ U[0, 0.9]; with probability p_r the
/// sequence's encoder sees only the tokens visible in x_t (every masked position's input zeroed, and with P = L the
/// latent patches there too), as LADD's per-sequence coin.</param>
/// <param name="IndependentTimes">Draw t_y on its own instead of t_y = t_x.</param>
/// <param name="AllZeroLatent">Ablation: the latent channel carries zeros (y₀ = y_t = 0, no latent loss).</param>
/// <param name="CorruptPositions">p_r per position instead (encoder_corruption_mode = position): each masked position's
/// input is zeroed on its own coin with probability p_r, so every latent still sees part of the masked tokens.</param>
public sealed record LatentObjectiveConfig(
    double TokenWeight = 1,
    double LatentWeight = 1,
    bool EpsPrediction = false,
    bool ElboLatentLoss = false,
    double LatentDropout = 0,
    bool EncoderCorruption = false,
    bool IndependentTimes = false,
    bool AllZeroLatent = false,
    bool CorruptPositions = false);

/// <summary>
/// The latent half of one batch's draw. <paramref name="Times"/>: t_y per sequence (t_x unless independent times).
/// <paramref name="Keep"/>: 1, or 0 for a sequence whose latent is dropped (p_cfg). <paramref name="EncoderKeep"/>:
/// (B·L) 1/0 for the encoder's inputs (p_r; with P = L also for the latent patches), or null when nothing is corrupted.
/// </summary>
public sealed record LatentDraw(double[] Times, float[] Keep, float[]? EncoderKeep)
{
    private const ulong TimeSalt = 0x6C617469; // "lati"
    private const ulong DropStream = 0x6C636667; // "lcfg"
    private const ulong RateStream = 0x656E6370; // "encp"
    private const ulong CorruptStream = 0x656E637A; // "encz"
    private const ulong SequenceStream = 0x656E6373; // "encs"

    /// <summary>
    /// The latent draw of (seed, step) for the token draw <paramref name="tokens"/>: every coin is counter-based, so a
    /// run replays. Dropout and corruption are drawn only in training mode.
    /// </summary>
    public static LatentDraw Sample(LatentObjectiveConfig config, TimeSampler times, MdlmDraw tokens,
        int batch, int length, int maskId, ulong seed, long step, bool training)
    {
        var t = config.IndependentTimes
            ? times.SampleShuffled(new Random(unchecked((int)((seed ^ TimeSalt) * 1_000_003UL) ^ (int)step)), batch) // independent of t_x
            : (double[])tokens.Times.Clone();
        var keep = new float[batch];
        for (int b = 0; b < batch; b++)
        {
            bool drop = training && Philox.UniformDouble(seed, DropStream, step * batch + b) < config.LatentDropout;
            keep[b] = drop ? 0f : 1f;
        }
        float[]? encoderKeep = null;
        if (training && config.EncoderCorruption)
        {
            encoderKeep = new float[batch * length];
            for (int b = 0; b < batch; b++)
            {
                double rate = 0.9 * Philox.UniformDouble(seed, RateStream, step * batch + b);
                // One coin for the whole sequence (LADD), or one per position (the per-position ablation).
                bool sequenceCoin = Philox.UniformDouble(seed, SequenceStream, step * batch + b) < rate;
                for (int i = b * length; i < (b + 1) * length; i++)
                {
                    bool coin = config.CorruptPositions ? Philox.UniformDouble(seed, CorruptStream, step * batch * length + i) < rate : sequenceCoin;
                    encoderKeep[i] = tokens.Noisy[i] == maskId && coin ? 0f : 1f;
                }
            }
        }
        return new LatentDraw(t, keep, encoderKeep);
    }
}

/// <summary>
/// The latent loss term of one batch (§2.3–2.4): the head's output against y₀ (or ε), weighted per sequence, and
/// the ELBO term ½(−SNR′(t))‖y₀ − ŷ₀‖² it reports (in y₀ space whatever the prediction).
/// </summary>
public sealed class LatentTerm
{
    private readonly Tensor _prediction, _target;
    private readonly double[] _elbo, _toY0;
    private readonly float[] _keep;
    private readonly int _length;

    private LatentTerm(Tensor loss, Tensor prediction, Tensor target, double[] elbo, double[] toY0, float[] keep, int length)
    {
        Value = loss;
        _prediction = prediction;
        _target = target;
        _elbo = elbo;
        _toY0 = toY0;
        _keep = keep;
        _length = length;
    }

    /// <summary>The latent loss L_y on the tape (shape (1)).</summary>
    public Tensor Value { get; }

    /// <summary>
    /// L_y = (1/(B_kept·P·d))·Σ_b w_b keep_b ‖pred_b − target_b‖² over the B_kept sequences whose latent loss is on (as
    /// LADD averages over its enabled rows; 0 when none is), w_b = 1 (mse) or the ELBO weight times P·d/L (elbo: then
    /// L_y = Σ_b keep_b·½(−SNR′)‖y₀ − ŷ₀‖² / (B_kept·L), the latent NELBO per token). target = y₀, or ε for eps-prediction.
    /// </summary>
    /// <param name="prediction">The head's output (B, P, d).</param>
    /// <param name="y0">The clean latent (B, P, d), on the tape (gradients reach a learned encoder: no stop-gradient, §5.7).</param>
    /// <param name="eps">The noise that made y_t (eps-prediction only).</param>
    public static LatentTerm Build(LatentChain chain, LatentObjectiveConfig config, Tensor prediction, Tensor y0, Tensor? eps,
        double[] times, float[] keep, int length)
    {
        if (prediction.Shape != y0.Shape || prediction.Shape.Rank != 3)
        {
            throw new ArgumentException($"Latent loss: the head's output {prediction.Shape} must be (B, P, d) like y₀ {y0.Shape}.", nameof(prediction));
        }
        int batch = prediction.Shape[0], patches = prediction.Shape[1], dim = prediction.Shape[2];
        var target = config.EpsPrediction ? eps ?? throw new ArgumentNullException(nameof(eps)) : y0;
        var elbo = new double[batch];
        var toY0 = new double[batch];
        var rows = new float[batch * patches];
        int kept = keep.Count(k => k != 0f);
        double perKept = kept == 0 ? 1 : (double)batch / kept; // MseOp divides by B·P·d; the mean is over kept rows
        for (int b = 0; b < batch; b++)
        {
            double t = times[b];
            elbo[b] = chain.ElboWeight(t);
            toY0[b] = config.EpsPrediction ? Math.Pow(chain.Sbar(t) / chain.Abar(t), 2) : 1; // ‖y₀ − ŷ₀‖² = (s̄/ā)²‖ε − ε̂‖²
            double w = config.ElboLatentLoss ? elbo[b] * toY0[b] * patches * dim / length : 1;
            rows.AsSpan(b * patches, patches).Fill((float)(w * keep[b] * perKept));
        }
        var weights = Tensor.FromArray(prediction.Backend, rows, batch, patches);
        var loss = MseOp.Apply(prediction, target, weights);
        return new LatentTerm(loss, prediction, target, elbo, toY0, keep, length);
    }

    /// <summary>
    /// Σ over kept sequences of ½(−SNR′(t_b))‖y₀ − ŷ₀‖², divided by L and by the number of kept sequences (0 when every
    /// latent was dropped). Reads B·P·d floats twice from the device; call before the tape is disposed.
    /// </summary>
    public double NelboPerToken()
    {
        var p = _prediction.ToArray();
        var q = _target.ToArray();
        int batch = _elbo.Length, row = p.Length / batch, kept = 0;
        double sum = 0;
        for (int b = 0; b < batch; b++)
        {
            if (_keep[b] == 0f)
            {
                continue;
            }
            kept++;
            double squares = 0;
            for (int j = b * row; j < (b + 1) * row; j++)
            {
                double d = (double)p[j] - q[j];
                squares += d * d;
            }
            sum += _elbo[b] * _toY0[b] * squares;
        }
        return kept == 0 ? 0 : sum / kept / _length;
    }

    /// <summary>w_x·L_x + w_y·L_y on the tape; a weight of 1 is not applied (so w = 1 adds no rounding) and a missing
    /// latent term (all_zero_latent) leaves w_x·L_x.</summary>
    public static Tensor Combine(Tensor tokenLoss, double tokenWeight, LatentTerm? latent, double latentWeight)
    {
        var x = tokenWeight == 1 ? tokenLoss : ScaleOp.Apply(tokenLoss, (float)tokenWeight);
        if (latent is null)
        {
            return x;
        }
        var y = latentWeight == 1 ? latent.Value : ScaleOp.Apply(latent.Value, (float)latentWeight);
        return AddOp.Apply(x, y);
    }
}

/// <summary>One LDDM batch's draw: the tokens' (t_x, masks) exactly as MDLM draws them, and the latent's.</summary>
public sealed record LddmDraw(MdlmDraw Tokens, LatentDraw Latent);

/// <summary>
/// One FUJI or SEQ batch's loss. The NELBO per token is the token NELBO (MDLM's) plus the latent ELBO term
/// ½(−SNR′)‖y₀ − ŷ₀‖²/L averaged over the sequences whose latent was not dropped (FUJI; SEQ's prior sees every one, or with
/// seq_prior_target = decoder the kept ones). With a deterministic encoder
/// (y₀ = E(x₀), no σ_lat) the L₀ reconstruction term and the entropy of q_φ are dropped, so this bound is formal (§2.3):
/// it is what LADD logs, not a bound on −log p(x₀) in the strict sense.
/// </summary>
public sealed class LddmLoss(Tensor value, MdlmLoss tokens, LatentTerm? latent) : IStepLoss
{
    /// <summary>w_x·L_x + w_y·L_y (shape (1)); call Backward on it.</summary>
    public Tensor Value { get; } = value;

    /// <summary>The MDLM token term (its loss, draw and NELBO).</summary>
    public MdlmLoss Tokens { get; } = tokens;

    /// <summary>The latent term (null with all_zero_latent, and in SEQ stage 1).</summary>
    public LatentTerm? Latent { get; } = latent;

    public double NelboPerToken() => Tokens.NelboPerToken() + (Latent?.NelboPerToken() ?? 0);

    /// <summary>The token term given the latent, and the latent chain's term (0 when the latent is dead).</summary>
    public IReadOnlyList<(string Term, double NatsPerToken)> Terms() =>
        [("tokens", Tokens.NelboPerToken()), ("latent", Latent?.NelboPerToken() ?? 0)];
}

/// <summary>Runs an <see cref="ILatentEncoder"/> on the host batch, with or without gradients.</summary>
internal static class LatentEncoding
{
    /// <summary>
    /// y₀ = E(x₀) (B, P, d). A frozen encoder runs without recording (no gradient, no saved tensors); so does a learned
    /// one when <paramref name="frozen"/> (SEQ stage 2). With <paramref name="encoderKeep"/> and P = L (one patch per
    /// position) the patches whose input was zeroed are zeroed as well.
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
        if (keep is not null && patches == length)
        {
            // A per-position latent (P = L, patch i from position i): the patches of zeroed inputs are zeroed too (LADD).
            y0 = RowScaleOp.Apply(y0, keep);
        }
        return y0;
    }
}

/// <summary>What FUJI's and SEQ's objectives share: MDLM's token objective, the latent chain, the options, and the draw.</summary>
public abstract class LddmObjective
{
    protected LddmObjective(MdlmObjective tokens, LatentChain chain, LatentObjectiveConfig config)
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
    public LddmDraw Draw(ReadOnlySpan<int> x0, int batch, int length, int maskId, ulong seed, long step, bool training)
    {
        var tokens = Tokens.Draw(x0, batch, length, maskId, seed, step);
        return new LddmDraw(tokens, LatentDraw.Sample(Config, Tokens.Times, tokens, batch, length, maskId, seed, step, training));
    }
}
