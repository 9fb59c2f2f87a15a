using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;

namespace Lddm.Training.DiLadd;

/// <summary>What a <see cref="DiLaddSampler"/> drew: count·length token ids, count·P code ids (no MASK in either) and the network calls.</summary>
public sealed record DiLaddSamples(int[] Tokens, int Nfe, int[] Codes);

/// <summary>
/// The Di-LADD samplers. Both chains start all MASK (tokens MASK = K, codes MASK = C) and move by
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

    /// <summary>Joint sampling in N = <paramref name="steps"/> steps: NFE = N, plus one when masks remain for the final step.</summary>
    public DiLaddSamples Run(MmDiT model, int count, int length, int steps, ulong seed, float temperature = 1f, IProgress<int>? progress = null)
    {
        Check(model, count, length, steps, temperature);
        var backend = model.Backend;
        int rows = count * length, vocab = model.Config.Vocab, mask = vocab - 1;
        int c = model.Config.LatentCodes, codeRows = count * model.Config.Patches;
        var grid = MdlmSampler.TimeGrid(steps);
        var host = new int[rows];
        var codeHost = new int[codeRows];
        Array.Fill(host, mask);
        Array.Fill(codeHost, c);
        int nfe = 0;
        using var eval = Grad.Off();
        using var tokens = IntTensor.FromArray(backend, host, count, length);
        using var codes = IntTensor.FromArray(backend, codeHost, count, model.Config.Patches);
        var tX = new float[count];
        var tY = new float[count];
        for (int k = 0; k <= steps; k++)
        {
            bool final = k == steps;
            if (final && Array.IndexOf(host, mask) < 0 && Array.IndexOf(codeHost, c) < 0)
            {
                progress?.Report(k + 1);
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
                    MdlmSampler.Stream, (long)k * rows, mode);
                double codeT = CodeSchedule.Alpha(t), codeS = final ? codeT : CodeSchedule.Alpha(grid[k + 1]);
                backend.UnmaskStep(output.Latent.Data, codes.Data, codeRows, c + 1, codeT, codeS, 1f, seed,
                    CodeStream, (long)k * codeRows, final ? UnmaskMode.Fill : UnmaskMode.Posterior);
            }
            tokens.Data.CopyTo(host);
            codes.Data.CopyTo(codeHost);
            progress?.Report(k + 1);
        }
        return new DiLaddSamples(host, nfe, codeHost);
    }

    /// <summary>
    /// Sequential sampling: N_lat = <paramref name="latentSteps"/> code steps (the last fills every code), then the token
    /// chain with the codes fixed and t_y = 0. NFE = N_lat + the token chain's calls.
    /// </summary>
    public DiLaddSamples RunSequential(MmDiT model, int count, int length, int steps, int latentSteps, ulong seed, float temperature = 1f,
        IProgress<int>? progress = null)
    {
        Check(model, count, length, steps, temperature);
        ArgumentOutOfRangeException.ThrowIfLessThan(latentSteps, 1);
        var backend = model.Backend;
        int c = model.Config.LatentCodes, patches = model.Config.Patches, codeRows = count * patches;
        using var eval = Grad.Off();
        var codeHost = new int[codeRows];
        Array.Fill(codeHost, c);
        using var codes = IntTensor.FromArray(backend, codeHost, count, patches);
        var tX = new float[count];
        var tY = new float[count];
        var grid = MdlmSampler.TimeGrid(latentSteps);
        var allMask = new int[count * length];
        Array.Fill(allMask, model.Config.Vocab - 1);
        using (var tokens = IntTensor.FromArray(backend, allMask, count, length))
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
        }, count, length, steps, seed, temperature, TimeConditioning, progress);
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
