using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Encoders;
using Lddm.Training.Engine;
using Lddm.Training.Mdlm;

namespace Lddm.Training.DiLadd;

/// <summary>
/// The Di-LADD objective. For clean tokens x₀: z = E(x₀) from the frozen encoder (no gradient), the P codes
/// y₀ = VQ(z) (an index: the graph is cut by construction), x_t as in MDLM, y_t from the absorbing chain over the codes
/// (its own MASK = C, its own time t_y, linear masking, drawn with <see cref="MdlmObjective.Draw"/>'s rule from a salted
/// seed); ONE MM-DiT call on (x_t, y_t, t_x or 0, t_y) gives the token logits (MDLM's loss L_x, through
/// <see cref="MdlmObjective"/>) and the code logits (MDLM's loss over the codes L_y, the same estimator with C + 1 logits).
/// loss = w_x·L_x + w_y·L_y + β·commitment; stage 1 drops L_y. The NELBO per token is the token NELBO plus the code
/// chain's NELBO per code times P/L (each an unbiased estimate of its continuous-time bound).
/// </summary>
public sealed class DiLaddObjective
{
    private const ulong CodeSalt = 0x636F6465; // "code"
    private const ulong CodeMaskStream = 0x636D736B; // "cmsk"

    public DiLaddObjective(MdlmObjective tokens, MdlmObjective codes, bool independentTimes, double tokenWeight = 1, double latentWeight = 1)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(codes);
        Tokens = tokens;
        Codes = codes;
        IndependentTimes = independentTimes;
        TokenWeight = tokenWeight;
        LatentWeight = latentWeight;
    }

    /// <summary>The token chain's MDLM objective.</summary>
    public MdlmObjective Tokens { get; }

    /// <summary>The code chain's MDLM objective (schedule, time sampler, weighting) over C + 1 code ids.</summary>
    public MdlmObjective Codes { get; }

    public bool IndependentTimes { get; }

    public double TokenWeight { get; }

    public double LatentWeight { get; }

    /// <summary>
    /// The code chain's draw for (seed, step): t_y from the code time sampler, randomly permuted across the batch
    /// (independent times), or t_x; then each code
    /// masked with probability 1 − α(t_y) on its own Philox coin. Replayable on resume.
    /// </summary>
    public MdlmDraw CodeDraw(ReadOnlySpan<int> codes, int batch, int patches, int maskCode, double[] tokenTimes, ulong seed, long step)
    {
        ArgumentNullException.ThrowIfNull(tokenTimes);
        double[] t;
        if (IndependentTimes)
        {
            // Permuted across the batch, so t_y is independent of t_x (see TimeSampler.SampleShuffled).
            t = Codes.Times.SampleShuffled(new Random(unchecked((int)((seed ^ CodeSalt) * 1_000_003UL) ^ (int)step)), batch);
        }
        else
        {
            t = (double[])tokenTimes.Clone();
        }
        var noisy = new int[batch * patches];
        int masked = 0;
        for (int b = 0; b < batch; b++)
        {
            double moveChance = 1 - Codes.Schedule.Alpha(t[b]);
            for (int i = 0; i < patches; i++)
            {
                int index = b * patches + i;
                bool mask = Philox.UniformDouble(seed, CodeMaskStream, step * (long)noisy.Length + index) < moveChance;
                noisy[index] = mask ? maskCode : codes[index];
                masked += mask ? 1 : 0;
            }
        }
        return new MdlmDraw(t, noisy, masked);
    }

    /// <summary>
    /// The loss of one batch; every draw is a function of (seed, step). In training mode the quantiser's codebook moves
    /// (EMA, dead codes) after assigning this batch's codes. <paramref name="latentLoss"/> false: stage 1. Call inside a tape.
    /// </summary>
    public DiLaddLoss Loss(MmDiT denoiser, VectorQuantizer quantizer, ILatentEncoder encoder, int[] x0, int batch, int length,
        ulong seed, long step, DropoutRng? dropout = null, bool latentLoss = true)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(quantizer);
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(x0);
        var backend = denoiser.Backend;
        int patches = denoiser.Config.Patches, codes = denoiser.Config.LatentCodes, vocab = denoiser.Config.Vocab;
        if (codes != quantizer.Config.Codes)
        {
            throw new ArgumentException($"Di-LADD: the MM-DiT takes {codes} codes but the quantiser has {quantizer.Config.Codes}.", nameof(quantizer));
        }
        var tokenDraw = Tokens.Draw(x0, batch, length, vocab - 1, seed, step);
        var z = LatentEncoding.Encode(encoder, backend, x0, batch, length, null, patches, quantizer.Config.Dim); // frozen: no gradient
        var q = quantizer.Forward(z);
        var y0 = q.Indices.ToArray();
        var codeDraw = CodeDraw(y0, batch, patches, codes, tokenDraw.Times, seed, step);
        var tY = Array.ConvertAll(codeDraw.Times, t => (float)t);
        var noisyCodes = IntTensor.FromArray(backend, codeDraw.Noisy, batch, patches);
        Tensor? head = null;
        var tokenLoss = Tokens.Loss(backend, vocab, (noisy, cond) =>
        {
            var output = denoiser.Forward(noisy, noisyCodes, cond, tY, dropout);
            head = output.Latent;
            return output.Logits;
        }, x0, batch, length, tokenDraw);
        var codeLoss = latentLoss ? Codes.Loss(backend, codes + 1, (_, _) => head!, y0, batch, patches, codeDraw) : null;
        var value = Combine(tokenLoss.Value, TokenWeight, codeLoss?.Value, LatentWeight);
        value = AddOp.Apply(value, q.Commitment);
        return new DiLaddLoss(value, tokenLoss, codeLoss, (double)patches / length, q.Usage, y0);
    }

    /// <summary>w_x·L_x + w_y·L_y on the tape; a weight of 1 adds no rounding and a missing L_y (stage 1) leaves w_x·L_x.</summary>
    private static Tensor Combine(Tensor tokenLoss, double tokenWeight, Tensor? codeLoss, double latentWeight)
    {
        var x = tokenWeight == 1 ? tokenLoss : ScaleOp.Apply(tokenLoss, (float)tokenWeight);
        if (codeLoss is null)
        {
            return x;
        }
        var y = latentWeight == 1 ? codeLoss : ScaleOp.Apply(codeLoss, (float)latentWeight);
        return AddOp.Apply(x, y);
    }
}

/// <summary>One Di-LADD batch's loss: the token term, the code chain's term (null in stage 1) and the code usage.</summary>
public sealed class DiLaddLoss(Tensor value, MdlmLoss tokens, MdlmLoss? codes, double codesPerToken, CodeUsage usage, int[] codeIds) : IStepLoss
{
    /// <summary>w_x·L_x + w_y·L_y + β·commitment (shape (1)).</summary>
    public Tensor Value { get; } = value;

    /// <summary>The MDLM token term.</summary>
    public MdlmLoss Tokens { get; } = tokens;

    /// <summary>The code chain's MDLM term, per code (null in stage 1).</summary>
    public MdlmLoss? Codes { get; } = codes;

    /// <summary>The batch's code usage (perplexity, used codes, dead codes).</summary>
    public CodeUsage Usage { get; } = usage;

    /// <summary>y₀: the batch's B·P code ids.</summary>
    public int[] CodeIds { get; } = codeIds;

    /// <summary>The code chain's NELBO in nats per token: its per-code NELBO × P/L (0 in stage 1).</summary>
    public double LatentNelboPerToken() => Codes is null ? 0 : Codes.NelboPerToken() * codesPerToken;

    public double NelboPerToken() => Tokens.NelboPerToken() + LatentNelboPerToken();

    public IReadOnlyList<(string Term, double NatsPerToken)> Terms() => [("tokens", Tokens.NelboPerToken()), ("latent", LatentNelboPerToken())];

    public IReadOnlyList<(string Name, double Value)> Statistics() =>
        [("code_perplexity", Usage.Perplexity), ("codes_used", Usage.UsedCodes), ("dead_codes", Usage.DeadCodes)];
}
