using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Diffusion;

namespace Lddm.Training.Mdlm;

/// <summary>MDLM training options (digest §8.3–8.4).</summary>
/// <param name="ElboWeighting">True: the continuous-time NELBO weight −α′_t/(1−α_t) on each masked token (MDLM's
/// default). False: unweighted cross-entropy over masked tokens (LADD's text runs); the NELBO is still reported.</param>
/// <param name="TimeConditioning">False (MDLM's default): the network sees t = 0; the number of masks reveals t.</param>
public sealed record MdlmObjectiveConfig(bool ElboWeighting = true, bool TimeConditioning = false);

/// <summary>The noised batch one step drew: per-sequence times and the masked tokens.</summary>
public sealed record MdlmDraw(double[] Times, int[] Noisy, int MaskedCount);

/// <summary>
/// The MDLM objective with the SUBS parameterisation. For clean tokens x₀ (B, L) over K real tokens (MASK = K):
/// draw t_b by low-discrepancy sampling, mask each position with probability 1 − α_{t_b}, run the denoiser on x_t
/// and take, per position,
/// <c>ℓ = w_b · (−log p_θ(x₀ | x_t))</c> on masked positions and exactly 0 on carry-over positions, with
/// w_b = −α′(t_b)/(1 − α(t_b)) (NELBO) or 1. The loss is the mean over all B·L positions (nats per token); with
/// NELBO weights it is an unbiased estimate of the continuous-time NELBO per token.
/// </summary>
public sealed class MdlmObjective
{
    private const ulong MaskStream = 0x6D61736B; // "mask"

    public MdlmObjective(MaskingSchedule schedule, TimeSampler times, MdlmObjectiveConfig config)
    {
        Schedule = schedule;
        Times = times;
        Config = config;
    }

    public MaskingSchedule Schedule { get; }

    public TimeSampler Times { get; }

    public MdlmObjectiveConfig Config { get; }

    /// <summary>Draws t and the masks for <paramref name="x0"/> (B·L ids) from (seed, step): replayable on resume.</summary>
    public MdlmDraw Draw(ReadOnlySpan<int> x0, int batch, int length, int maskId, ulong seed, long step)
    {
        var t = Times.Sample(new Random(unchecked((int)(seed * 1_000_003UL) ^ (int)step)), batch);
        var noisy = new int[batch * length];
        int masked = 0;
        for (int b = 0; b < batch; b++)
        {
            double moveChance = 1 - Schedule.Alpha(t[b]);
            for (int i = 0; i < length; i++)
            {
                int index = b * length + i;
                bool mask = Lddm.Kernels.Philox.UniformDouble(seed, MaskStream, step * (long)noisy.Length + index) < moveChance;
                noisy[index] = mask ? maskId : x0[index];
                masked += mask ? 1 : 0;
            }
        }
        return new MdlmDraw(t, noisy, masked);
    }

    /// <summary>
    /// The loss for one batch (a one-element tensor on the tape) and the per-position cross-entropies needed to
    /// report the NELBO. Call inside a tape; call <see cref="MdlmLoss.NelboPerToken"/> before the tape is disposed.
    /// </summary>
    public MdlmLoss Loss(DiT model, ReadOnlySpan<int> x0, int batch, int length, ulong seed, long step, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Loss(model.Backend, model.Config.Vocab, Denoiser(model, dropout), x0, batch, length, seed, step);
    }

    /// <summary>The loss for a given draw (tests and evaluation supply their own t and masks).</summary>
    public MdlmLoss Loss(DiT model, ReadOnlySpan<int> x0, int batch, int length, MdlmDraw draw, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Loss(model.Backend, model.Config.Vocab, Denoiser(model, dropout), x0, batch, length, draw);
    }

    /// <summary>
    /// The loss of ANY denoiser of the tokens: <paramref name="denoiser"/>(x_t (B, L), c (B)) → logits (B, L, V) with
    /// V = <paramref name="vocab"/> = K + 1, where c_b = t_b with time conditioning and 0 otherwise. LDDM's token terms
    /// (FUJI's MM-DiT on (x_t, y_t), SEQ's decoder on (x_t, y₀)) go through here, so the token loss and its NELBO are
    /// MDLM's by construction. The draw is <see cref="Draw"/>(seed, step).
    /// </summary>
    public MdlmLoss Loss(Backend backend, int vocab, Func<IntTensor, float[], Tensor> denoiser, ReadOnlySpan<int> x0,
        int batch, int length, ulong seed, long step)
    {
        CheckTokens(x0, batch, length, vocab - 1);
        var draw = Draw(x0, batch, length, vocab - 1, seed, step);
        return Loss(backend, vocab, denoiser, x0, batch, length, draw);
    }

    /// <summary><see cref="Loss(Backend, int, Func{IntTensor, float[], Tensor}, ReadOnlySpan{int}, int, int, ulong, long)"/> for a given draw.</summary>
    public MdlmLoss Loss(Backend backend, int vocab, Func<IntTensor, float[], Tensor> denoiser, ReadOnlySpan<int> x0,
        int batch, int length, MdlmDraw draw)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(denoiser);
        int k = vocab - 1;
        CheckTokens(x0, batch, length, k);
        CheckDraw(draw, x0, batch, length, k);
        var used = new float[batch * length];
        var elbo = new double[batch];
        var cond = new float[batch];
        for (int b = 0; b < batch; b++)
        {
            elbo[b] = Schedule.NelboWeight(draw.Times[b]);
            cond[b] = Config.TimeConditioning ? (float)draw.Times[b] : 0f;
            used.AsSpan(b * length, length).Fill(Config.ElboWeighting ? (float)elbo[b] : 1f);
        }
        // Ids checked here on the host (x₀ in [0, K), x_t in [0, K]): the embedding and the loss need not read them back.
        var noisy = IntTensor.FromIds(backend, draw.Noisy, k + 1, batch, length);
        var targets = IntTensor.FromIds(backend, x0, k, batch, length);
        var logits = denoiser(noisy, cond);                                             // (B, L, K+1)
        if (logits.Shape != new Shape(batch, length, vocab))
        {
            throw new ArgumentException(
                $"MDLM: the denoiser returned logits of shape {logits.Shape}; expected ({batch}, {length}, {vocab}) = (B, L, K+1).",
                nameof(denoiser));
        }
        var weights = Tensor.FromArray(backend, used, batch, length);
        var ce = SubsCrossEntropyOp.Apply(logits, targets, noisy, weights);            // (B, L), 0 where unmasked
        return new MdlmLoss(MeanOp.Apply(ce), ce, used, elbo, length, draw);
    }

    private static Func<IntTensor, float[], Tensor> Denoiser(DiT model, DropoutRng? dropout) =>
        (noisy, cond) => model.Forward(noisy, cond, dropout);

    /// <summary>A supplied draw must fit the batch and be a state of the absorbing chain: each position MASK or x₀.</summary>
    private static void CheckDraw(MdlmDraw draw, ReadOnlySpan<int> x0, int batch, int length, int k)
    {
        ArgumentNullException.ThrowIfNull(draw);
        if (draw.Times.Length != batch || draw.Noisy.Length != batch * length)
        {
            throw new ArgumentException(
                $"MDLM: the draw has {draw.Times.Length} times and {draw.Noisy.Length} noisy tokens for a batch of {batch} sequences of length {length}.",
                nameof(draw));
        }
        for (int b = 0; b < batch; b++)
        {
            if (!(draw.Times[b] > 0 && draw.Times[b] <= 1))
            {
                throw new ArgumentOutOfRangeException(nameof(draw), draw.Times[b],
                    $"MDLM: time {draw.Times[b]} of sequence {b} is not in (0, 1] (the NELBO weight is infinite at t = 0).");
            }
        }
        for (int i = 0; i < x0.Length; i++)
        {
            if (draw.Noisy[i] != k && draw.Noisy[i] != x0[i])
            {
                throw new ArgumentException(
                    $"MDLM: noisy token {draw.Noisy[i]} at sequence {i / length}, position {i % length} is neither MASK ({k}) nor the clean token {x0[i]}: the absorbing chain only masks.",
                    nameof(draw));
            }
        }
    }

    private static void CheckTokens(ReadOnlySpan<int> x0, int batch, int length, int k)
    {
        if (batch <= 0 || length <= 0 || x0.Length != batch * length)
        {
            throw new ArgumentException($"MDLM: {x0.Length} tokens do not form a batch of {batch} sequences of length {length}.", nameof(x0));
        }
        for (int i = 0; i < x0.Length; i++)
        {
            if ((uint)x0[i] >= (uint)k)
            {
                throw new ArgumentOutOfRangeException(nameof(x0),
                    $"MDLM: token {x0[i]} at sequence {i / length}, position {i % length} is not a real token id in [0, {k}) (MASK is {k}).");
            }
        }
    }
}

/// <summary>One batch's loss and what is needed to report the NELBO from it.</summary>
public sealed class MdlmLoss(Tensor loss, Tensor perPosition, float[] usedWeights, double[] elboWeights, int length, MdlmDraw draw) : Engine.IStepLoss
{
    /// <summary>The training loss (mean over positions, nats per token); call Backward on it.</summary>
    public Tensor Value { get; } = loss;

    public MdlmDraw Draw { get; } = draw;

    /// <summary>The NELBO estimate in nats per token for this batch (reads B·L floats from the device).</summary>
    public double NelboPerToken() => Nelbo(perPosition.ToArray());

    /// <summary>A device copy of the per-position cross-entropy (one launch), read and weighed when the function is called.</summary>
    public Func<double> DeferNelboPerToken()
    {
        var backend = perPosition.Backend;
        var copy = backend.Allocate<float>(perPosition.Shape.Elements);
        backend.Axpby(1f, perPosition.Data, 0f, copy);
        return () =>
        {
            using (copy)
            {
                return Nelbo(copy.ToArray());
            }
        };
    }

    private double Nelbo(float[] ce)
    {
        double sum = 0;
        for (int i = 0; i < ce.Length; i++)
        {
            sum += ce[i] / usedWeights[i] * elboWeights[i / length];
        }
        return sum / ce.Length;
    }
}
