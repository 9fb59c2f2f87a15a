using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Conditional;
using Lddm.Training.Diffusion;

namespace Lddm.Training.Mdlm;

/// <summary>What one <see cref="MdlmSampler.Run"/> produced: the tokens (count·length ids, no MASK) and its cost.</summary>
/// <param name="Tokens">count sequences of length ids in [0, K), row-major.</param>
/// <param name="Nfe">Network evaluations actually run (the final step included).</param>
/// <param name="CachedSteps">Steps (the final one included) that reused the previous logits instead of calling the network.</param>
public sealed record MdlmSamples(int[] Tokens, int Nfe, int CachedSteps);

/// <summary>
/// The MDLM ancestral sampler with caching (digest §4.1, [M] <c>ddpm_cache</c>). Start from x = MASK^L and walk the
/// uniform grid t_k = 1 − k(1 − t_ε)/N, k = 0..N: at each step the network gives x̂₀ = SUBS(softmax(f(x))) and every
/// still-masked position unmasks to a token drawn from x̂₀ with probability (α_s − α_t)/(1 − α_t) (s = t_{k+1}), in
/// ONE fused kernel (<see cref="Backend.UnmaskStep"/>); unmasked positions never change. When a step changes
/// nothing and the network has no time input, its logits are exactly the next step's, so they are reused (no NFE).
/// A final step at t_ε fills every position still masked (<see cref="UnmaskMode.Fill"/>: drawn from x̂₀, LADD;
/// <see cref="UnmaskMode.Argmax"/>: MDLM). Randomness is counter-based: a seed gives the same samples on every backend.
/// </summary>
public sealed class MdlmSampler
{
    /// <summary>The grid's end, t_ε = 10⁻⁵ in both reference codes.</summary>
    public const double TimeFloor = 1e-5;

    /// <summary>The Philox stream of the token draws (FUJI's sampler draws from it too).</summary>
    internal const ulong Stream = 0x73616D70; // "samp"

    /// <param name="schedule">The masking schedule the model was trained with (α_t).</param>
    /// <param name="finalMode">How the last step fills the remaining masks: Fill (sample, default) or Argmax.</param>
    public MdlmSampler(MaskingSchedule schedule, UnmaskMode finalMode = UnmaskMode.Fill)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        CheckFinalMode(nameof(MdlmSampler), finalMode);
        Schedule = schedule;
        FinalMode = finalMode;
    }

    public MaskingSchedule Schedule { get; }

    public UnmaskMode FinalMode { get; }

    /// <summary>t_k = 1 − k(1 − t_ε)/N for k = 0..N (numpy's linspace(1, t_ε, N + 1)).</summary>
    public static double[] TimeGrid(int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var t = new double[steps + 1];
        for (int k = 0; k <= steps; k++)
        {
            t[k] = k == steps ? TimeFloor : 1 - k * (1 - TimeFloor) / steps;
        }
        return t;
    }

    /// <summary>Draws <paramref name="count"/> sequences of <paramref name="length"/> tokens in N = <paramref name="steps"/> steps.</summary>
    public int[] Sample(DiT model, int count, int length, int steps, ulong seed, float temperature = 1f,
        bool timeConditioning = false, IProgress<int>? progress = null) =>
        Run(model, count, length, steps, seed, temperature, timeConditioning, progress).Tokens;

    /// <summary>
    /// <see cref="Sample"/> with its cost. <paramref name="afterStep"/> (tests, visualisation) sees the tokens after each
    /// step k = 0..N−1 and after the final step (k = N); the array is reused, copy it to keep it. Conditional generation:
    /// <paramref name="template"/> (count·length ids, MASK = free; null = all free) and semi-autoregressive blocks of
    /// <paramref name="block"/> positions (0 = one block), as <see cref="RunChain"/>.
    /// </summary>
    public MdlmSamples Run(DiT model, int count, int length, int steps, ulong seed, float temperature = 1f,
        bool timeConditioning = false, IProgress<int>? progress = null, Action<int, int[]>? afterStep = null,
        int[]? template = null, int block = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        CheckRequest(nameof(MdlmSampler), model.Config.MaxLength, model.Config.Vocab, count, length, steps, temperature);
        // The DiT sees each sequence alone (its tokens and the shared t), so identical rows may share one evaluation.
        return RunChain(model.Backend, model.Config.Vocab, (tokens, t) => Denoise(model, tokens, timeConditioning ? t : 0),
            count, length, steps, seed, temperature, timeConditioning, progress, afterStep, template, block, rowsIndependent: true);
    }

    /// <summary>
    /// The token chain of <see cref="Run"/> for any denoiser (SEQ's decoder on its fixed latent uses it too):
    /// <paramref name="denoise"/>(x_t, t) gives the logits (count, length, <paramref name="vocab"/>) on the current tape.
    /// <paramref name="timeConditioning"/> says whether the denoiser reads t; only without it are logits reused.
    /// Conditional: x starts at <paramref name="template"/> (fixed tokens visible from the first step) and the blocks of
    /// <see cref="BlockPlan"/> run left to right, each with the template and every position outside it as the unmask
    /// kernel's carry-over mask; step k of the chain is the k-th step over all blocks (callbacks and Philox offsets), so
    /// an all-free template in one block is the unconditional chain bit for bit, and an all-fixed one costs no call.
    /// <paramref name="rowsIndependent"/> promises that the denoiser's logits for a sequence depend on its tokens (and
    /// t) alone — no per-sequence latent or other input: then a step whose sequences are all identical (the first step
    /// from an all-MASK or shared-prompt start) evaluates one row and copies its logits to the others, which is exact
    /// (the unmask draws stay per row) and saves (count − 1)/count of that network call.
    /// </summary>
    public MdlmSamples RunChain(Backend backend, int vocab, Func<IntTensor, double, Tensor> denoise, int count, int length,
        int steps, ulong seed, float temperature, bool timeConditioning, IProgress<int>? progress = null,
        Action<int, int[]>? afterStep = null, int[]? template = null, int block = 0, bool rowsIndependent = false)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(denoise);
        CheckRequest(nameof(MdlmSampler), int.MaxValue, vocab, count, length, steps, temperature);
        var plan = BlockPlan.Create(nameof(MdlmSampler), count, length, vocab - 1, steps, template, block);
        var host = plan.Template;
        using var tokens = IntTensor.FromArray(backend, host, count, length);
        using var eval = Grad.Off();
        int nfe = 0, cached = 0;
        foreach (var b in plan.Blocks)
        {
            var keep = plan.Keep(b);
            using var keepBuffer = keep is null ? null : backend.Upload<int>(keep);
            var (n, c) = RunBlock(backend, vocab, denoise, tokens, host, count, keep, keepBuffer, b, seed, temperature, timeConditioning,
                rowsIndependent, progress, afterStep);
            nfe += n;
            cached += c;
        }
        return new MdlmSamples(host, nfe, cached);
    }

    /// <summary>One block of <see cref="RunChain"/>: its N_b steps on the grid and the final fill; returns (NFE, cached steps).</summary>
    private (int Nfe, int Cached) RunBlock(Backend backend, int vocab, Func<IntTensor, double, Tensor> denoise, IntTensor tokens,
        int[] host, int count, int[]? keep, DeviceBuffer<int>? keepBuffer, SamplingBlock block, ulong seed, float temperature,
        bool timeConditioning, bool rowsIndependent, IProgress<int>? progress, Action<int, int[]>? afterStep)
    {
        int rows = host.Length, mask = vocab - 1, steps = block.Steps;
        var grid = TimeGrid(steps);
        var previous = new int[rows];
        int nfe = 0, cached = 0;
        Tape? tape = null;
        Tensor? logits = null;
        try
        {
            for (int k = 0; k <= steps; k++)
            {
                bool final = k == steps;
                int g = block.FirstStep + k;
                if (final && !BlockPlan.AnyFreeMask(host, keep, mask))
                {
                    afterStep?.Invoke(g, host); // nothing left to fill: the final call would change nothing
                    progress?.Report(g + 1);
                    break;
                }
                if (logits is null)
                {
                    tape = Tape.Begin(); // frees this forward's temporaries (and its logits) when disposed
                    logits = rowsIndependent && count > 1 && RowsIdentical(host, count)
                        ? SharedRowLogits(backend, denoise, host, count, grid[k])
                        : denoise(tokens, grid[k]);
                    nfe++;
                }
                else
                {
                    cached++;
                }
                double alphaT = Schedule.Alpha(grid[k]), alphaS = final ? alphaT : Schedule.Alpha(grid[k + 1]);
                host.CopyTo(previous, 0);
                backend.UnmaskStep(logits.Data, tokens.Data, rows, vocab, alphaT, alphaS, temperature, seed, Stream,
                    (long)g * rows, final ? FinalMode : UnmaskMode.Posterior, keepBuffer);
                tokens.Data.CopyTo(host);
                afterStep?.Invoke(g, host);
                progress?.Report(g + 1);
                // The cache is valid only while the network's input is unchanged: same tokens, no time input.
                if (timeConditioning || !host.AsSpan().SequenceEqual(previous))
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
        return (nfe, cached);
    }

    /// <summary>True when all <paramref name="count"/> rows of <paramref name="host"/> hold the same ids.</summary>
    internal static bool RowsIdentical(int[] host, int count)
    {
        int length = host.Length / count;
        var first = host.AsSpan(0, length);
        for (int r = 1; r < count; r++)
        {
            if (!host.AsSpan(r * length, length).SequenceEqual(first))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// The logits of <paramref name="count"/> identical rows from one evaluation: the denoiser on row 0 alone, its
    /// (1, length, K+1) logits copied to every row by doubling block copies (⌈log₂ count⌉ copies), on the current tape.
    /// </summary>
    private static Tensor SharedRowLogits(Backend backend, Func<IntTensor, double, Tensor> denoise, int[] host, int count, double t)
    {
        int length = host.Length / count;
        var one = IntTensor.FromArray(backend, host.AsSpan(0, length), 1, length);
        var row = denoise(one, t);
        int n = row.Shape.Elements;
        var all = Tensor.Empty(backend, new Shape(count, length, n / length));
        backend.CopyBlock(row.Data, 0, n, all.Data, 0, n, 1, n);
        for (int have = 1; have < count; have *= 2)
        {
            int rows = Math.Min(have, count - have);
            backend.CopyBlock(all.Data, 0, rows * n, all.Data, have * n, rows * n, 1, rows * n);
        }
        return all;
    }

    /// <summary>The network on x_t: logits (count, length, K+1) at time t for every sequence (0 without time input).</summary>
    private static Tensor Denoise(DiT model, IntTensor tokens, double t)
    {
        int count = tokens.Shape[0];
        var times = new float[count];
        Array.Fill(times, (float)t);
        return model.Forward(tokens, times);
    }

    /// <summary>The final step must fill every mask (a sampler's constructor check).</summary>
    internal static void CheckFinalMode(string owner, UnmaskMode finalMode)
    {
        if (finalMode == UnmaskMode.Posterior || !Enum.IsDefined(finalMode))
        {
            throw new ArgumentOutOfRangeException(nameof(finalMode), finalMode,
                $"{owner}: the final step must fill every mask: UnmaskMode.Fill or UnmaskMode.Argmax.");
        }
    }

    /// <summary>A sampling request every token sampler checks the same way, naming itself in the errors.</summary>
    internal static void CheckRequest(string owner, int maxLength, int vocab, int count, int length, int steps, float temperature)
    {
        if (count < 1 || length < 1 || length > maxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length),
                $"{owner}: {count} sequences of length {length}: need count ≥ 1 and 1 ≤ length ≤ {maxLength} (the model's maximum).");
        }
        if ((long)count * length > int.MaxValue / vocab)
        {
            throw new ArgumentOutOfRangeException(nameof(count),
                $"{owner}: {count}·{length} positions × vocabulary {vocab} logits overflow one buffer; sample in smaller batches.");
        }
        if (vocab < 2)
        {
            throw new ArgumentException($"{owner}: the model's vocabulary {vocab} must hold K ≥ 1 real tokens plus MASK.", nameof(vocab));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        if (!(temperature > 0f) || !float.IsFinite(temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature,
                $"{owner}: temperature must be positive and finite but was {temperature.ToString(CultureInfo.InvariantCulture)}.");
        }
    }
}
