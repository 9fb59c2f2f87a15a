using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;

namespace Lddm.Training.Seq;

/// <summary>
/// The SEQ-LDDM sampler (digest §4.3). First the latent: y ~ N(0, I), N_lat prior steps on MDLM's grid
/// (DDIM or DDPM), then ŷ₀ = D_ψ(y, t_ε) is the clean latent. Then the tokens: MDLM's ancestral chain
/// (<see cref="Backend.UnmaskStep"/>, as <see cref="MdlmSampler"/>) with the decoder on (x, y, t_x = t or 0, t_y = 0);
/// y is fixed, so without time conditioning the decoder's input changes only when a token does, and its logits are
/// reused otherwise (MdlmSampler's caching). NFE = prior calls (N_lat + 1) + decoder calls. With all_zero_latent the
/// prior is skipped and y = 0.
/// </summary>
public sealed class SeqSampler
{
    /// <param name="latentSteps">N_lat; 0 = the token steps N.</param>
    public SeqSampler(MaskingSchedule schedule, LatentChain chain, LatentStepConfig step, int latentSteps = 0,
        bool timeConditioning = false, bool allZeroLatent = false, UnmaskMode finalMode = UnmaskMode.Fill)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(step);
        ArgumentOutOfRangeException.ThrowIfNegative(latentSteps);
        Tokens = new MdlmSampler(schedule, finalMode);
        Schedule = schedule;
        Chain = chain;
        StepConfig = step;
        LatentSteps = latentSteps;
        TimeConditioning = timeConditioning;
        AllZeroLatent = allZeroLatent;
        FinalMode = finalMode;
    }

    public MaskingSchedule Schedule { get; }

    public LatentChain Chain { get; }

    public LatentStepConfig StepConfig { get; }

    public int LatentSteps { get; }

    public bool TimeConditioning { get; }

    public bool AllZeroLatent { get; }

    public UnmaskMode FinalMode { get; }

    /// <summary>The token chain (MDLM's, with its caching), run with the decoder on the fixed latent.</summary>
    private MdlmSampler Tokens { get; }

    /// <summary>Draws <paramref name="count"/> sequences: the latent, then N = <paramref name="steps"/> token steps.</summary>
    public LatentSamples Run(LatentDiT prior, MmDiT decoder, int count, int length, int steps, ulong seed, float temperature = 1f,
        IProgress<int>? progress = null, Action<int, int[]>? afterStep = null)
    {
        ArgumentNullException.ThrowIfNull(prior);
        Check(decoder, count, length, steps, temperature);
        using var eval = Grad.Off();
        var y = LatentSampling.Initial(decoder.Backend, count, decoder.Config.Patches, decoder.Config.PatchDim, seed, AllZeroLatent);
        try
        {
            int nfe = AllZeroLatent ? 0 : SampleLatent(prior, y, count, LatentSteps == 0 ? steps : LatentSteps, seed);
            nfe += SampleTokens(decoder, y, count, length, steps, seed, temperature, progress, afterStep, out var tokens);
            return new LatentSamples(tokens, nfe, y.ToArray());
        }
        finally
        {
            y.Dispose();
        }
    }

    /// <summary>The latent chain in place on <paramref name="y"/>: N_lat steps and the final ŷ₀. Returns the prior calls.</summary>
    private int SampleLatent(LatentDiT prior, Tensor y, int count, int latentSteps, ulong seed)
    {
        if (prior.Config.Patches != y.Shape[1] || prior.Config.PatchDim != y.Shape[2])
        {
            throw new ArgumentException(
                $"SeqSampler: the prior models {prior.Config.Patches} × {prior.Config.PatchDim} latents but the decoder reads {y.Shape[1]} × {y.Shape[2]}.", nameof(prior));
        }
        var backend = y.Backend;
        var grid = MdlmSampler.TimeGrid(latentSteps);
        using var next = Tensor.Zeros(backend, y.Shape);
        using var scratch = backend.Allocate<float>(y.Shape.Elements);
        var times = new float[count];
        for (int k = 0; k <= latentSteps; k++)
        {
            using var tape = Tape.Begin();
            Array.Fill(times, (float)grid[k]);
            var head = prior.Forward(y, times);
            var y0Hat = LatentSampling.PredictedY0(Chain, StepConfig, y, head, grid[k], count, scratch);
            if (k == latentSteps)
            {
                backend.Axpby(1f, y0Hat, 0f, y.Data); // the clean latent
            }
            else
            {
                LatentSampling.Step(Chain, StepConfig, y, y0Hat, next, grid[k], grid[k + 1], count, seed, k);
                backend.Axpby(1f, next.Data, 0f, y.Data);
            }
        }
        return latentSteps + 1;
    }

    /// <summary>MDLM's token chain with the decoder on the fixed y; returns the decoder calls.</summary>
    private int SampleTokens(MmDiT decoder, Tensor y, int count, int length, int steps, ulong seed, float temperature,
        IProgress<int>? progress, Action<int, int[]>? afterStep, out int[] host)
    {
        var tX = new float[count];
        var tY = new float[count];
        var run = Tokens.RunChain(decoder.Backend, decoder.Config.Vocab, (tokens, t) =>
        {
            Array.Fill(tX, TimeConditioning ? (float)t : 0f);
            return decoder.Forward(tokens, y, tX, tY).Logits;
        }, count, length, steps, seed, temperature, TimeConditioning, progress, afterStep);
        host = run.Tokens;
        return run.Nfe;
    }

    private static void Check(MmDiT decoder, int count, int length, int steps, float temperature)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        MdlmSampler.CheckRequest(nameof(SeqSampler), decoder.Config.MaxLength, decoder.Config.Vocab, count, length, steps, temperature);
    }
}
