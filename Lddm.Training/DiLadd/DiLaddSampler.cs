using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Conditional;
using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;

namespace Lddm.Training.DiLadd;

/// <summary>What a <see cref="DiLaddSampler"/> drew: count·length token ids, count·P code ids (no MASK in either, except the
/// codes of an all-fixed template, which are not drawn: all MASK = C) and the network calls.</summary>
public sealed record DiLaddSamples(int[] Tokens, int Nfe, int[] Codes);

/// <summary>
/// The Di-LADD samplers. Both chains start all MASK (tokens MASK = K, codes MASK = C; the tokens at a template's fixed
/// ids when one is given, never redrawn) and move by
/// <see cref="Backend.UnmaskStep"/> (the token chain exactly as <see cref="MdlmSampler"/>, the codes with their own
/// linear schedule and Philox stream).
/// Joint: on MDLM's grid t_k = 1 − k(1 − t_ε)/N each step is ONE MM-DiT call on (x, y, t_x = t or 0, t_y = t) that moves
/// both chains; the final step at t_ε fills every mask left in either (skipped when none is).
/// Sequential (LADD's "SEQ" schedule): first N_lat steps of the code chain alone on the grid of N_lat steps with the
/// tokens all MASK (t_x = 1 with time conditioning, else 0 as the network never sees t_x; the tokens' state is t = 1),
/// the last of which fills every code left; then MDLM's token chain (with its caching) on (x, y, t_x or 0, t_y = 0),
/// y fixed. A seed gives the same samples on every backend.
/// </summary>
public sealed class DiLaddSampler
{
    /// <summary>The Philox stream of the code draws.</summary>
    internal const ulong CodeStream = 0x63736D70; // "csmp"

    public DiLaddSampler(MaskingSchedule tokens, MaskingSchedule codes, bool timeConditioning = false, UnmaskMode finalMode = UnmaskMode.Fill)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(codes);
        MdlmSampler.CheckFinalMode(nameof(DiLaddSampler), finalMode);
        TokenSchedule = tokens;
        CodeSchedule = codes;
        TimeConditioning = timeConditioning;
        FinalMode = finalMode;
    }

    public MaskingSchedule TokenSchedule { get; }

    public MaskingSchedule CodeSchedule { get; }

    public bool TimeConditioning { get; }

    public UnmaskMode FinalMode { get; }

    /// <summary>
    /// Joint sampling in N = <paramref name="steps"/> steps: NFE = N, plus one when masks remain for the final step.
    /// Conditional: x starts at <paramref name="template"/> (count·length, MASK = free), so the denoiser sees the fixed
    /// tokens from step 1 and the codes are drawn given them; they are the unmask kernel's carry-over mask and never
    /// redrawn. Semi-autoregressive blocks of <paramref name="block"/> (0 = one block, <see cref="BlockPlan"/>): each
    /// block is a joint chain of its own with the codes all MASK again (as FUJI draws a fresh y per block), given the
    /// earlier blocks; the codes returned are the last block's. An all-fixed template costs no call and draws no code
    /// (every code is then MASK = C).
    /// </summary>
    public DiLaddSamples Run(MmDiT model, int count, int length, int steps, ulong seed, float temperature = 1f, IProgress<int>? progress = null,
        int[]? template = null, int block = 0)
    {
        Check(model, count, length, steps, temperature);
        var backend = model.Backend;
        var plan = BlockPlan.Create(nameof(DiLaddSampler), count, length, model.Config.Vocab - 1, steps, template, block);
        var host = plan.Template;
        var codeHost = new int[count * model.Config.Patches];
        Array.Fill(codeHost, model.Config.LatentCodes);
        int nfe = 0;
        using var eval = Grad.Off();
        using var tokens = IntTensor.FromArray(backend, host, count, length);
        for (int i = 0; i < plan.Blocks.Count; i++)
        {
            var keep = plan.Keep(plan.Blocks[i]);
            using var keepBuffer = keep is null ? null : backend.Upload<int>(keep);
            Array.Fill(codeHost, model.Config.LatentCodes);
            nfe += JointBlock(model, tokens, host, codeHost, keep, keepBuffer, plan.Blocks[i], seed, temperature, progress);
        }
        return new DiLaddSamples(host, nfe, codeHost);
    }

    /// <summary>One block of <see cref="Run"/>: codes from all MASK, a joint chain of N_b steps and the final one; returns its calls.</summary>
    private int JointBlock(MmDiT model, IntTensor tokens, int[] host, int[] codeHost, int[]? keep, DeviceBuffer<int>? keepBuffer,
        SamplingBlock block, ulong seed, float temperature, IProgress<int>? progress)
    {
        var backend = model.Backend;
        int count = tokens.Shape[0], rows = host.Length, vocab = model.Config.Vocab, mask = vocab - 1;
        int c = model.Config.LatentCodes, codeRows = codeHost.Length, steps = block.Steps;
        var grid = MdlmSampler.TimeGrid(steps);
        int nfe = 0;
        using var codes = IntTensor.FromArray(backend, codeHost, count, model.Config.Patches);
        var tX = new float[count];
        var tY = new float[count];
        for (int k = 0; k <= steps; k++)
        {
            bool final = k == steps;
            int g = block.FirstStep + k;
            if (final && !BlockPlan.AnyFreeMask(host, keep, mask) && Array.IndexOf(codeHost, c) < 0)
            {
                progress?.Report(g + 1);
                break;
            }
            double t = grid[k];
            using (Tape.Begin())
            {
                Array.Fill(tX, TimeConditioning ? (float)t : 0f);
                Array.Fill(tY, (float)t);
                var output = model.Forward(tokens, codes, tX, tY);
                nfe++;
                var mode = final ? FinalMode : UnmaskMode.Posterior;
                double alphaT = TokenSchedule.Alpha(t), alphaS = final ? alphaT : TokenSchedule.Alpha(grid[k + 1]);
                backend.UnmaskStep(output.Logits.Data, tokens.Data, rows, vocab, alphaT, alphaS, temperature, seed,
                    MdlmSampler.Stream, (long)g * rows, mode, keepBuffer);
                double codeT = CodeSchedule.Alpha(t), codeS = final ? codeT : CodeSchedule.Alpha(grid[k + 1]);
                backend.UnmaskStep(output.Latent.Data, codes.Data, codeRows, c + 1, codeT, codeS, 1f, seed,
                    CodeStream, (long)g * codeRows, final ? UnmaskMode.Fill : UnmaskMode.Posterior);
            }
            tokens.Data.CopyTo(host);
            codes.Data.CopyTo(codeHost);
            progress?.Report(g + 1);
        }
        return nfe;
    }

    /// <summary>
    /// Sequential sampling: N_lat = <paramref name="latentSteps"/> code steps (the last fills every code), then the token
    /// chain with the codes fixed and t_y = 0. NFE = N_lat + the token chain's calls. Conditional (as FUJI's latent-first
    /// sampler): the code phase sees x = <paramref name="template"/> (its fixed tokens, MASK elsewhere) instead of all
    /// MASK, so the codes are drawn given them; the token chain is <see cref="MdlmSampler.RunChain"/>'s with the template
    /// and its blocks of <paramref name="block"/>. An all-fixed template costs no call and draws no code (every code MASK = C).
    /// </summary>
    public DiLaddSamples RunSequential(MmDiT model, int count, int length, int steps, int latentSteps, ulong seed, float temperature = 1f,
        IProgress<int>? progress = null, int[]? template = null, int block = 0)
    {
        Check(model, count, length, steps, temperature);
        ArgumentOutOfRangeException.ThrowIfLessThan(latentSteps, 1);
        var backend = model.Backend;
        int c = model.Config.LatentCodes, patches = model.Config.Patches, codeRows = count * patches;
        var plan = BlockPlan.Create(nameof(DiLaddSampler), count, length, model.Config.Vocab - 1, steps, template, block);
        var codeHost = new int[codeRows];
        Array.Fill(codeHost, c);
        if (plan.Blocks.Count == 0)
        {
            return new DiLaddSamples(plan.Template, 0, codeHost); // nothing to generate
        }
        using var eval = Grad.Off();
        using var codes = IntTensor.FromArray(backend, codeHost, count, patches);
        var tX = new float[count];
        var tY = new float[count];
        var grid = MdlmSampler.TimeGrid(latentSteps);
        using (var tokens = IntTensor.FromArray(backend, plan.Template, count, length))
        {
            Array.Fill(tX, TimeConditioning ? 1f : 0f);
            for (int k = 0; k < latentSteps; k++)
            {
                using var tape = Tape.Begin();
                bool last = k == latentSteps - 1;
                Array.Fill(tY, (float)grid[k]);
                var head = model.Forward(tokens, codes, tX, tY).Latent;
                double codeT = CodeSchedule.Alpha(grid[k]), codeS = last ? codeT : CodeSchedule.Alpha(grid[k + 1]);
                backend.UnmaskStep(head.Data, codes.Data, codeRows, c + 1, codeT, codeS, 1f, seed, CodeStream, (long)k * codeRows,
                    last ? UnmaskMode.Fill : UnmaskMode.Posterior);
            }
        }
        codes.Data.CopyTo(codeHost);
        Array.Fill(tY, 0f); // the codes are clean
        var run = new MdlmSampler(TokenSchedule, FinalMode).RunChain(backend, model.Config.Vocab, (x, t) =>
        {
            Array.Fill(tX, TimeConditioning ? (float)t : 0f);
            return model.Forward(x, codes, tX, tY).Logits;
        }, count, length, steps, seed, temperature, TimeConditioning, progress, null, plan.Template, block);
        return new DiLaddSamples(run.Tokens, latentSteps + run.Nfe, codeHost);
    }

    private static void Check(MmDiT model, int count, int length, int steps, float temperature)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Config.LatentCodes < 1)
        {
            throw new ArgumentException($"{nameof(DiLaddSampler)}: the MM-DiT has a Gaussian latent (LatentCodes = 0); Di-LADD needs one of codes.", nameof(model));
        }
        MdlmSampler.CheckRequest(nameof(DiLaddSampler), model.Config.MaxLength, model.Config.Vocab, count, length, steps, temperature);
    }
}
