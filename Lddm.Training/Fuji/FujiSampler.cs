using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Conditional;
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
    /// Conditional: x starts at <paramref name="template"/> (count·length, MASK = free), so the joint denoiser sees the
    /// fixed tokens from step 1 and the latent is denoised given them; they are the unmask kernel's carry-over mask.
    /// Semi-autoregressive blocks of <paramref name="block"/> (0 = one block, <see cref="BlockPlan"/>): each block is a
    /// joint chain of its own from a fresh y ~ N(0, I) (block i draws at offset i·count·P·d), given the earlier blocks.
    /// </summary>
    public LatentSamples Run(MmDiT model, int count, int length, int steps, ulong seed, float temperature = 1f,
        IProgress<int>? progress = null, Action<int, int[]>? afterStep = null, int[]? template = null, int block = 0)
    {
        Check(model, count, length, steps, temperature);
        var backend = model.Backend;
        var plan = BlockPlan.Create(nameof(FujiSampler), count, length, model.Config.Vocab - 1, steps, template, block);
        var host = plan.Template;
        int nfe = 0;
        using var eval = Grad.Off();
        using var tokens = IntTensor.FromArray(backend, host, count, length);
        var latent = new float[count * model.Config.Patches * model.Config.PatchDim];
        for (int i = 0; i < plan.Blocks.Count; i++)
        {
            var keep = plan.Keep(plan.Blocks[i]);
            using var keepBuffer = keep is null ? null : backend.Upload<int>(keep);
            nfe += JointBlock(model, tokens, host, keep, keepBuffer, plan.Blocks[i], i, seed, temperature, progress, afterStep, out latent);
        }
        return new LatentSamples(host, nfe, latent);
    }

    /// <summary>One block of <see cref="Run"/>: a joint chain of N_b steps and the final one; returns its calls.</summary>
    private int JointBlock(MmDiT model, IntTensor tokens, int[] host, int[]? keep, DeviceBuffer<int>? keepBuffer, SamplingBlock block,
        int index, ulong seed, float temperature, IProgress<int>? progress, Action<int, int[]>? afterStep, out float[] latent)
    {
        var backend = model.Backend;
        int count = tokens.Shape[0], rows = host.Length, vocab = model.Config.Vocab, mask = vocab - 1;
        int patches = model.Config.Patches, dim = model.Config.PatchDim, steps = block.Steps;
        var grid = MdlmSampler.TimeGrid(steps);
        int nfe = 0;
        var y = LatentSampling.Initial(backend, count, patches, dim, seed, AllZeroLatent, (long)index * count * patches * dim);
        var next = Tensor.Zeros(backend, y.Shape);
        using var scratch = backend.Allocate<float>(y.Shape.Elements);
        var tX = new float[count];
        var tY = new float[count];
        try
        {
            for (int k = 0; k <= steps; k++)
            {
                bool final = k == steps;
                int g = block.FirstStep + k;
                if (final && !BlockPlan.AnyFreeMask(host, keep, mask))
                {
                    afterStep?.Invoke(g, host);
                    progress?.Report(g + 1);
                    break;
                }
                double t = grid[k];
                using (var tape = Tape.Begin())
                {
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
                            LatentSampling.Step(Chain, StepConfig, y, y0Hat, next, t, grid[k + 1], count, seed, g);
                            (y, next) = (next, y);
                        }
                    }
                    double alphaT = Schedule.Alpha(t), alphaS = final ? alphaT : Schedule.Alpha(grid[k + 1]);
                    backend.UnmaskStep(output.Logits.Data, tokens.Data, rows, vocab, alphaT, alphaS, temperature, seed,
                        LatentSampling.TokenStream, (long)g * rows, final ? FinalMode : UnmaskMode.Posterior, keepBuffer);
                }
                tokens.Data.CopyTo(host);
                afterStep?.Invoke(g, host);
                progress?.Report(g + 1);
            }
            latent = y.ToArray();
            return nfe;
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
    /// (k, y) for k = 0..N_lat − 1 after each latent step, before any token step. Conditional: the latent phase sees
    /// x = <paramref name="template"/> (its fixed tokens, MASK elsewhere) instead of all MASK, so the latent is denoised
    /// given them; the token chain is <see cref="MdlmSampler.RunChain"/>'s with the template and its blocks. An all-fixed
    /// template costs no call.
    /// </summary>
    public LatentSamples RunSequential(MmDiT model, int count, int length, int steps, int latentSteps, ulong seed,
        float temperature = 1f, IProgress<int>? progress = null, Action<int, int[]>? afterStep = null, Action<int, float[]>? afterLatentStep = null,
        int[]? template = null, int block = 0)
    {
        Check(model, count, length, steps, temperature);
        ArgumentOutOfRangeException.ThrowIfLessThan(latentSteps, 1);
        var backend = model.Backend;
        int patches = model.Config.Patches, dim = model.Config.PatchDim, mask = model.Config.Vocab - 1;
        var plan = BlockPlan.Create(nameof(FujiSampler), count, length, mask, steps, template, block);
        if (plan.Blocks.Count == 0)
        {
            return new LatentSamples(plan.Template, 0, new float[count * patches * dim]); // nothing to generate
        }
        using var eval = Grad.Off();
        var y = LatentSampling.Initial(backend, count, patches, dim, seed, AllZeroLatent);
        try
        {
            int nfe = AllZeroLatent ? 0 : SequentialLatent(model, y, plan.Template, count, length, latentSteps, seed, afterLatentStep);
            var tX = new float[count];
            var tY = new float[count]; // the latent is clean
            var run = new MdlmSampler(Schedule, FinalMode).RunChain(backend, model.Config.Vocab, (tokens, t) =>
            {
                Array.Fill(tX, TimeConditioning ? (float)t : 0f);
                return model.Forward(tokens, y, tX, tY).Logits;
            }, count, length, steps, seed, temperature, TimeConditioning, progress, afterStep, plan.Template, block);
            return new LatentSamples(run.Tokens, nfe + run.Nfe, y.ToArray());
        }
        finally
        {
            y.Dispose();
        }
    }

    /// <summary>The latent phase of <see cref="RunSequential"/> beside x = <paramref name="template"/>, in place on <paramref name="y"/>; returns its calls (N_lat).</summary>
    private int SequentialLatent(MmDiT model, Tensor y, int[] template, int count, int length, int latentSteps, ulong seed,
        Action<int, float[]>? afterLatentStep)
    {
        var backend = model.Backend;
        var grid = MdlmSampler.TimeGrid(latentSteps);
        using var tokens = IntTensor.FromArray(backend, template, count, length);
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
