using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;

namespace Lddm.Training.Fuji;

/// <summary>
/// The FUJI-LDDM sampler (digest §4.2): x = MASK^L, y ~ N(0, I); on MDLM's grid t_k = 1 − k(1 − t_ε)/N, each step is ONE
/// MM-DiT call on (x, y, t_x = t or 0, t_y = t) giving the logits and ŷ₀; y moves t → s by DDIM (default) or DDPM,
/// x by <see cref="Backend.UnmaskStep"/> exactly as <see cref="MdlmSampler"/>. The final step at t_ε sets y ← ŷ₀ and
/// fills every mask (skipped when none is left). No caching: y changes every step, so does the network's input.
/// With all_zero_latent y stays 0 throughout. A seed gives the same samples on every backend.
/// </summary>
public sealed class FujiSampler
{
    /// <param name="schedule">The masking schedule α_t the model was trained with.</param>
    /// <param name="chain">The latent chain the model was trained with.</param>
    /// <param name="step">DDIM/DDPM and y₀/ε prediction.</param>
    /// <param name="timeConditioning">Whether the token time t_x is fed (else 0, as MDLM).</param>
    /// <param name="allZeroLatent">The ablation: y = 0 at every step.</param>
    public FujiSampler(MaskingSchedule schedule, LatentChain chain, LatentStepConfig step, bool timeConditioning = false,
        bool allZeroLatent = false, UnmaskMode finalMode = UnmaskMode.Fill)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(step);
        MdlmSampler.CheckFinalMode(nameof(FujiSampler), finalMode);
        Schedule = schedule;
        Chain = chain;
        StepConfig = step;
        TimeConditioning = timeConditioning;
        AllZeroLatent = allZeroLatent;
        FinalMode = finalMode;
    }

    public MaskingSchedule Schedule { get; }

    public LatentChain Chain { get; }

    public LatentStepConfig StepConfig { get; }

    public bool TimeConditioning { get; }

    public bool AllZeroLatent { get; }

    public UnmaskMode FinalMode { get; }

    /// <summary>
    /// Draws <paramref name="count"/> sequences in N = <paramref name="steps"/> steps. NFE = N, plus one when masks
    /// remain for the final step. <paramref name="afterStep"/> sees (k, tokens) after each step k = 0..N.
    /// </summary>
    public LatentSamples Run(MmDiT model, int count, int length, int steps, ulong seed, float temperature = 1f,
        IProgress<int>? progress = null, Action<int, int[]>? afterStep = null)
    {
        Check(model, count, length, steps, temperature);
        var backend = model.Backend;
        int rows = count * length, vocab = model.Config.Vocab, mask = vocab - 1;
        int patches = model.Config.Patches, dim = model.Config.PatchDim;
        var grid = MdlmSampler.TimeGrid(steps);
        var host = new int[rows];
        Array.Fill(host, mask);
        int nfe = 0;
        using var eval = Grad.Off();
        using var tokens = IntTensor.FromArray(backend, host, count, length);
        var y = LatentSampling.Initial(backend, count, patches, dim, seed, AllZeroLatent);
        var next = Tensor.Zeros(backend, y.Shape);
        using var scratch = backend.Allocate<float>(y.Shape.Elements);
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
                double t = grid[k];
                using (var tape = Tape.Begin())
                {
                    var tX = new float[count];
                    var tY = new float[count];
                    Array.Fill(tX, TimeConditioning ? (float)t : 0f);
                    Array.Fill(tY, (float)t);
                    var output = model.Forward(tokens, y, tX, tY);
                    nfe++;
                    if (!AllZeroLatent)
                    {
                        var y0Hat = LatentSampling.PredictedY0(Chain, StepConfig, y, output.Latent, t, count, scratch);
                        if (final)
                        {
                            backend.Axpby(1f, y0Hat, 0f, y.Data);
                        }
                        else
                        {
                            LatentSampling.Step(Chain, StepConfig, y, y0Hat, next, t, grid[k + 1], count, seed, k);
                            (y, next) = (next, y);
                        }
                    }
                    double alphaT = Schedule.Alpha(t), alphaS = final ? alphaT : Schedule.Alpha(grid[k + 1]);
                    backend.UnmaskStep(output.Logits.Data, tokens.Data, rows, vocab, alphaT, alphaS, temperature, seed,
                        LatentSampling.TokenStream, (long)k * rows, final ? FinalMode : UnmaskMode.Posterior);
                }
                tokens.Data.CopyTo(host);
                afterStep?.Invoke(k, host);
                progress?.Report(k + 1);
            }
            return new LatentSamples(host, nfe, y.ToArray());
        }
        finally
        {
            y.Dispose();
            next.Dispose();
        }
    }

    /// <summary>
    /// Sequential sampling of a jointly trained model (LADD's Di-LADD "SEQ" mode; needs a model trained with independent
    /// times). First the latent alone: the tokens stay all MASK (the token chain at full noise; t_x = 1, or 0 without
    /// time conditioning) while y ~ N(0, I) takes N_lat = <paramref name="latentSteps"/> steps on MDLM's grid (DDIM or
    /// DDPM), the last of which lands on ŷ₀ itself (a step to t = 0). Then the tokens: MDLM's chain (with its caching)
    /// with the MM-DiT on (x, ŷ₀, t_x = t or 0, t_y = 0), y fixed. NFE = N_lat + the token chain's calls (N, plus one
    /// when masks remain for the final step, less the calls its caching skips). <paramref name="afterLatentStep"/> sees
    /// (k, y) for k = 0..N_lat − 1 after each latent step, before any token step.
    /// </summary>
    public LatentSamples RunSequential(MmDiT model, int count, int length, int steps, int latentSteps, ulong seed,
        float temperature = 1f, IProgress<int>? progress = null, Action<int, int[]>? afterStep = null, Action<int, float[]>? afterLatentStep = null)
    {
        Check(model, count, length, steps, temperature);
        ArgumentOutOfRangeException.ThrowIfLessThan(latentSteps, 1);
        var backend = model.Backend;
        int patches = model.Config.Patches, dim = model.Config.PatchDim, mask = model.Config.Vocab - 1;
        using var eval = Grad.Off();
        var y = LatentSampling.Initial(backend, count, patches, dim, seed, AllZeroLatent);
        try
        {
            int nfe = AllZeroLatent ? 0 : SequentialLatent(model, y, count, length, latentSteps, seed, mask, afterLatentStep);
            var tX = new float[count];
            var tY = new float[count]; // the latent is clean
            var run = new MdlmSampler(Schedule, FinalMode).RunChain(backend, model.Config.Vocab, (tokens, t) =>
            {
                Array.Fill(tX, TimeConditioning ? (float)t : 0f);
                return model.Forward(tokens, y, tX, tY).Logits;
            }, count, length, steps, seed, temperature, TimeConditioning, progress, afterStep);
            return new LatentSamples(run.Tokens, nfe + run.Nfe, y.ToArray());
        }
        finally
        {
            y.Dispose();
        }
    }

    /// <summary>The latent phase of <see cref="RunSequential"/>, in place on <paramref name="y"/>; returns its calls (N_lat).</summary>
    private int SequentialLatent(MmDiT model, Tensor y, int count, int length, int latentSteps, ulong seed, int mask,
        Action<int, float[]>? afterLatentStep)
    {
        var backend = model.Backend;
        var grid = MdlmSampler.TimeGrid(latentSteps);
        var allMask = new int[count * length];
        Array.Fill(allMask, mask);
        using var tokens = IntTensor.FromArray(backend, allMask, count, length);
        using var next = Tensor.Zeros(backend, y.Shape);
        using var scratch = backend.Allocate<float>(y.Shape.Elements);
        var tX = new float[count];
        var tY = new float[count];
        Array.Fill(tX, TimeConditioning ? 1f : 0f);
        for (int k = 0; k < latentSteps; k++)
        {
            using var tape = Tape.Begin();
            Array.Fill(tY, (float)grid[k]);
            var head = model.Forward(tokens, y, tX, tY).Latent;
            var y0Hat = LatentSampling.PredictedY0(Chain, StepConfig, y, head, grid[k], count, scratch);
            if (k == latentSteps - 1)
            {
                backend.Axpby(1f, y0Hat, 0f, y.Data); // the last step goes to t = 0: y = ŷ₀
            }
            else
            {
                LatentSampling.Step(Chain, StepConfig, y, y0Hat, next, grid[k], grid[k + 1], count, seed, k);
                backend.Axpby(1f, next.Data, 0f, y.Data);
            }
            afterLatentStep?.Invoke(k, y.ToArray());
        }
        return latentSteps;
    }

    private static void Check(MmDiT model, int count, int length, int steps, float temperature)
    {
        ArgumentNullException.ThrowIfNull(model);
        MdlmSampler.CheckRequest(nameof(FujiSampler), model.Config.MaxLength, model.Config.Vocab, count, length, steps, temperature);
    }
}
