using System.Diagnostics;
using System.Globalization;
using Lddm.Training.Conditional;
using Lddm.Training.Data;
using Lddm.Training.Runs;
using Lddm.Training.Seq;

namespace Lddm.Cli;

/// <summary>
/// <c>lddm sample</c>'s conditional options: <c>--prompt TEXT</c> (continue it) or <c>--infill TEXT</c> (each '_' one
/// position to generate), <c>--length L</c> (default the checkpoint's), <c>--block B</c> (semi-autoregressive blocks;
/// default L) and, for SEQ, <c>--seq-latent prior|encoder</c>. Text is normalised with the corpus normaliser; a character
/// outside the vocabulary is an error naming it.
/// </summary>
internal sealed class ConditionalOptions
{
    private string? Prompt { get; init; }

    private string? Infill { get; init; }

    private int? Length { get; init; }

    private int Block { get; init; }

    private bool EncoderLatent { get; init; }

    /// <summary>The options, or null when none is given (unconditional sampling).</summary>
    public static ConditionalOptions? Parse(Options options)
    {
        string? prompt = options.Value("prompt"), infill = options.Value("infill");
        int? length = options.Int("length");
        int block = options.Int("block") ?? 0;
        string latent = options.Value("seq-latent") ?? "prior";
        if (prompt is not null && infill is not null)
        {
            throw new UsageException("give --prompt or --infill, not both");
        }
        if (latent is not ("prior" or "encoder"))
        {
            throw new UsageException($"--seq-latent expects prior or encoder but got '{latent}'");
        }
        if (block < 0)
        {
            throw new UsageException($"--block must be ≥ 0 (0 = one block of L) but is {block}");
        }
        if (prompt is null && infill is null)
        {
            return length is null && block == 0 && latent == "prior" ? null
                : throw new UsageException("--length, --block and --seq-latent need --prompt or --infill");
        }
        return new ConditionalOptions { Prompt = prompt, Infill = infill, Length = length, Block = block, EncoderLatent = latent == "encoder" };
    }

    /// <summary>Turns the SEQ prompt-aware latent on; a model that cannot take it is bad input naming the checkpoint.</summary>
    internal static void UsePromptAwareLatent(SeqModel model, string directory)
    {
        try
        {
            model.UsePromptAwareLatent(true);
        }
        catch (InvalidOperationException e)
        {
            throw new ArgumentException($"--seq-latent encoder on '{directory}': {e.Message}", e);
        }
    }

    /// <summary>Builds the template from the checkpoint's vocabulary, samples <paramref name="count"/> completions and prints them.</summary>
    public void Print(LddmModel loaded, int count, int steps, ulong seed, float temperature)
    {
        if (loaded.Data is not TextData text)
        {
            throw new ArgumentException($"--prompt and --infill need a text checkpoint but '{loaded.Directory}' holds {loaded.Data.Description}.");
        }
        int length = Length ?? loaded.Config.Length;
        if (length < 1 || length > loaded.Config.Length)
        {
            throw new UsageException($"--length must be in [1, {loaded.Config.Length}] (the checkpoint's L) but is {length}");
        }
        var template = Prompt is not null
            ? GenerationTemplate.FromPrompt(Prompt, length, text.Characters)
            : GenerationTemplate.FromInfill(Infill!, length, text.Characters);
        if (EncoderLatent)
        {
            UsePromptAwareLatent(loaded.Model as SeqModel
                ?? throw new ArgumentException($"--seq-latent encoder needs a SEQ checkpoint but '{loaded.Directory}' is {loaded.Model.Kind}."), loaded.Directory);
        }
        Console.WriteLine($"template ({template.FixedCount} fixed, {template.FreeCount} to generate, '{GenerationTemplate.Placeholder}' = free): {template.Describe(text.Characters)}");
        var clock = Stopwatch.StartNew();
        var run = loaded.Model.Generate([.. Enumerable.Repeat(template, count)], steps, seed, Block, temperature);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"completions, N = {steps} steps, block {(Block == 0 ? "L" : Block.ToString(CultureInfo.InvariantCulture))} ({run.Nfe} network calls, {clock.Elapsed.TotalSeconds:F1} s):"));
        for (int i = 0; i < count; i++)
        {
            Console.WriteLine("  " + text.Decode(run.Tokens.AsSpan(i * length, length)));
        }
    }
}
