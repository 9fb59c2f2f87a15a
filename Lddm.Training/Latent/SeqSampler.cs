using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Sampling;
using Lddm.Training.Schedules;

namespace Lddm.Training.Latent;

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
        if (finalMode == UnmaskMode.Posterior || !Enum.IsDefined(finalMode))
        {
            throw new ArgumentOutOfRangeException(nameof(finalMode), finalMode, "SeqSampler: the final step must fill every mask: Fill or Argmax.");
        }
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
        var backend = decoder.Backend;
        int rows = count * length, vocab = decoder.Config.Vocab, mask = vocab - 1;
        var grid = MdlmSampler.TimeGrid(steps);
        host = new int[rows];
        var previous = new int[rows];
        Array.Fill(host, mask);
        int nfe = 0;
        Tape? tape = null;
        Tensor? logits = null;
        using var tokens = IntTensor.FromArray(backend, host, count, length);
        var tX = new float[count];
        var tY = new float[count];
        try
        {
            for (int k = 0; k <= steps; k++)
            {
                bool final = k == steps;
                if (final && Array.IndexOf(host, mask) < 0)
                {
                    afterStep?.Invoke(k, host);
                    progress?.Report(k + 1);
                    break;
                }
                if (logits is null)
                {
                    tape = Tape.Begin();
                    Array.Fill(tX, TimeConditioning ? (float)grid[k] : 0f);
                    logits = decoder.Forward(tokens, y, tX, tY).Logits;
                    nfe++;
                }
                double alphaT = Schedule.Alpha(grid[k]), alphaS = final ? alphaT : Schedule.Alpha(grid[k + 1]);
                host.CopyTo(previous, 0);
                backend.UnmaskStep(logits.Data, tokens.Data, rows, vocab, alphaT, alphaS, temperature, seed,
                    LatentSampling.TokenStream, (long)k * rows, final ? FinalMode : UnmaskMode.Posterior);
                tokens.Data.CopyTo(host);
                afterStep?.Invoke(k, host);
                progress?.Report(k + 1);
                if (TimeConditioning || !host.AsSpan().SequenceEqual(previous))
                {
                    tape!.Dispose();
                    tape = null;
                    logits = null;
                }
            }
        }
        finally
        {
            tape?.Dispose();
        }
        return nfe;
    }

    private static void Check(MmDiT decoder, int count, int length, int steps, float temperature)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        if (count < 1 || length < 1 || length > decoder.Config.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length),
                $"SeqSampler: {count} sequences of length {length}: need count ≥ 1 and 1 ≤ length ≤ {decoder.Config.MaxLength} (the decoder's maximum).");
        }
        if ((long)count * length > int.MaxValue / decoder.Config.Vocab)
        {
            throw new ArgumentOutOfRangeException(nameof(count),
                $"SeqSampler: {count}·{length} positions × vocabulary {decoder.Config.Vocab} logits overflow one buffer; sample in smaller batches.");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        if (!(temperature > 0f) || !float.IsFinite(temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature,
                $"SeqSampler: temperature must be positive and finite but was {temperature.ToString(CultureInfo.InvariantCulture)}.");
        }
    }
}
