using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;
using Lddm.Kernels;
using Lddm.Kernels.Ptx;
using Lddm.Training.Data.Text;
using Lddm.Training.Runs;

namespace Lddm.Cli;

/// <summary>
/// The <c>lddm</c> command line on System.CommandLine: every verb with its options, their descriptions, defaults and
/// checks. Numbers are read in the invariant culture (a comma is never a decimal point or a thousands separator),
/// every value is checked against its range or choices here, before a verb runs, and every message names the flag in
/// the user's terms. A verb's body reads its values from <see cref="Options"/>, which this class fills (defaults
/// included), so each body stays as it was.
/// </summary>
internal static class LddmCommandLine
{
    /// <summary>The verbs, in the order <c>lddm --help</c> lists them.</summary>
    public static IReadOnlyList<string> Verbs { get; } =
        ["train", "sample", "eval", "sweep", "eval-gen", "eval-cond", "prepare-corpus", "device", "bench", "ptx", "cl"];

    /// <summary>The whole command line; each verb's action calls its body with the parsed <see cref="Options"/>.</summary>
    public static RootCommand Build(Func<string, Options, int>? run = null)
    {
        run ??= Dispatch;
        var root = new RootCommand(
            "lddm: train, sample and evaluate latent discrete diffusion models (MDLM, FUJI, SEQ) and AR judges on " +
            $"hand-written SIMD CPU and ILGPU kernels. Devices: {Devices.Help}.");
        foreach (var verb in CreateVerbs())
        {
            var command = verb;
            command.SetAction(result => run(command.Name, Fill(result, command)));
            root.Subcommands.Add(command);
        }
        return root;
    }

    /// <summary>The body of each verb.</summary>
    private static int Dispatch(string verb, Options options) => verb switch
    {
        "train" => TrainCommand.Run(options),
        "sample" => SampleCommand.Sample(options),
        "eval" => SampleCommand.Eval(options),
        "sweep" => SweepCommand.Run(options),
        "eval-gen" => EvalGenCommand.Run(options),
        "eval-cond" => EvalCondCommand.Run(options),
        "prepare-corpus" => PrepareCorpusCommand.Run(options),
        "device" => Commands.Device(options),
        "bench" => Commands.Bench(options),
        "ptx" => PtxCommand.Run(options),
        "cl" => ClCommand.Run(options),
        _ => throw new InvalidOperationException($"verb '{verb}' has no body"),
    };

    private static IEnumerable<Command> CreateVerbs()
    {
        var d = new TrainConfig();
        yield return Verb("train",
            "Train a model (default: a small MDLM on the bundled Moby-Dick text), checkpoint it into --out, then print " +
            "samples. The config is the defaults, then --config, then the flags below, then --set. SEQ and FUJI with " +
            "--stage 0 train stage 1 into OUT/stage1, then stage 2 into OUT.",
            Choice("model", "The model kind", ["mdlm", "fuji", "seq", "diladd", "ar"], configDefault: d.Model),
            Integer("stage", "SEQ/FUJI: 0 = stage 1 then stage 2, 1 or 2 = that stage only; FUJI -1 = one joint stage", -1, 2, configDefault: d.Stage),
            Text("init", "SEQ/FUJI stage 2: the stage-1 run folder to start from", "DIR"),
            Choice("data", "Character text or the binary sawtooth", ["text", "sawtooth"], configDefault: d.Data),
            Corpus(d.Corpus),
            Choice("preset", "The network size", ["xxs", "tiny", "small", "base"], configDefault: d.Preset),
            Integer("steps", "Optimizer steps", 1, int.MaxValue, configDefault: d.Steps),
            Integer("batch", "Sequences per step", 1, 4096, configDefault: d.Batch),
            Integer("length", "Sequence length L (tokens)", 2, 4096, configDefault: d.Length),
            Seed(configDefault: d.Seed),
            Text("config", "A JSON file of config keys (see README: Configuration)", "FILE"),
            Repeated("set", "Set any config key, e.g. --set learning_rate=3e-4 (repeatable; applied last)", "KEY=VALUE"),
            Text("out", "The run folder (default: runs/<model>-<data>-<time>)", "DIR"),
            Flag("resume", "Continue the run in --out from its last checkpoint (its saved config unless flags change steps or the *_every keys)"),
            Device());
        yield return Verb("sample", "Sample from a checkpoint's EMA weights and print the decoded sequences.",
            [.. Checkpoint("The run folder to sample from", list: false),
            Integer("steps", "Sampling steps N", 1, int.MaxValue, @default: 128),
            Integer("count", "How many sequences", 1, int.MaxValue, @default: 4),
            Seed(@default: 1),
            Temperature(),
            Device(), .. Sampler(), .. Conditional()]);
        yield return Verb("eval",
            "Validation NELBO (nats and bits per token, ± standard error); on sawtooth data also the exact NLL, unigram KL " +
            "and entropy of --count samples at each N of --steps.",
            [.. Checkpoint("The run folder to evaluate", list: false),
            Integer("draws", "Noise draws per validation sequence", 1, int.MaxValue, @default: 4),
            Integer("count", "Sawtooth: samples per N", 1, int.MaxValue, @default: 512, alias: "--samples"),
            StepList("Sawtooth: comma-separated sampling steps N (default: 2,4,8,16,32,L)", @default: null),
            Integer("batch", "Sawtooth: samples drawn at once", 1, int.MaxValue, @default: 256),
            Seed(@default: 1),
            Device(), .. Sampler()]);
        yield return Verb("sweep",
            "The sawtooth evaluation of every checkpoint at every N, written as PREFIX.csv, PREFIX.md and PNG plots.",
            [.. Checkpoint("Comma-separated run folders", list: true),
            Text("label", "Comma-separated labels, one per checkpoint (default: kind:folder)", "A,B,..."),
            StepList("Comma-separated sampling steps N", @default: "2,4,8,16,32,64,128"),
            Integer("count", "Samples per checkpoint and N", 1, int.MaxValue, @default: 2048),
            Required(Text("out", "The report prefix: PREFIX.csv, PREFIX.md, PREFIX.png", "PREFIX")),
            Integer("batch", "Samples drawn at once", 1, int.MaxValue, @default: 256),
            Seed(@default: 1),
            Text("append", "An earlier sweep's CSV whose rows join this report", "CSV"),
            Device(), .. Sampler()]);
        yield return Verb("eval-gen",
            "Text: generative perplexity under an AR judge and per-sequence unigram entropy against N, beside real " +
            "validation text; writes PREFIX.csv, PREFIX.md and PREFIX.png.",
            [Required(Text("judge", "The AR judge's run folder (trained with --model ar)", "DIR")),
            .. Checkpoint("Comma-separated run folders", list: true),
            Text("label", "Comma-separated labels, one per checkpoint (default: the folder names)", "A,B,..."),
            StepList("Comma-separated sampling steps N", @default: "2,4,8,16,32,64,128"),
            Integer("count", "Samples per checkpoint and N", 1, int.MaxValue, @default: 64),
            Text("out", "The report prefix", "PREFIX", @default: "eval-gen"),
            Integer("batch", "Samples drawn at once", 1, int.MaxValue, @default: 16),
            Seed(@default: 1),
            Temperature(),
            Device(), .. Sampler()]);
        yield return Verb("eval-cond",
            "Conditional generation measured: real validation sequences keep a prefix of L/2 (--task prefix) or both ends " +
            "around a middle gap of L/4 (--task infill), each checkpoint completes them at each N, and the AR judge scores the " +
            "completion beside the real span (NLL ± SE, span entropy, exact match); sawtooth checkpoints keep the first L/4 " +
            "bits and report the completion's exact conditional NLL (no judge). Writes PREFIX.md.",
            [Text("judge", "Text: the AR judge's run folder (trained with --model ar)", "DIR"),
            .. Checkpoint("Comma-separated run folders (one may be listed several times)", list: true),
            Text("label", "Comma-separated labels, one per checkpoint (default: the folder names)", "A,B,..."),
            Choice("task", "Text: keep the first half (prefix) or both ends around a middle gap (infill)", ["prefix", "infill"]),
            StepList("Comma-separated sampling steps N", @default: "2,4,8,16,32"),
            Checked("block", "Semi-autoregressive block B per checkpoint (0 = L, one block); one, or one per checkpoint", "B[,B...]",
                token => token.Split(',', StringSplitOptions.TrimEntries).All(b => int.TryParse(b, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    ? null : "integers ≥ 0 (0 = one block of L), one or one per checkpoint", "0"),
            Checked("seq-latent", "SEQ: the latent from the unconditional prior or the encoder on the template; one, or one per checkpoint",
                "prior|encoder[,...]", token => token.Split(',', StringSplitOptions.TrimEntries).All(v => v is "prior" or "encoder")
                    ? null : "prior or encoder (or a comma-separated list of them)", "prior"),
            Integer("count", "Validation sequences per checkpoint and N", 1, int.MaxValue, @default: 128),
            Text("out", "The report prefix: PREFIX.md", "PREFIX", @default: "eval-cond"),
            Integer("batch", "Sequences completed at once", 1, int.MaxValue, @default: 32),
            Seed(@default: 1),
            Device(), .. Sampler()]);
        yield return Verb("prepare-corpus",
            "Normalise the fetched State-of-the-Union speeches and split them by year (scripts/fetch-corpus.sh runs it).",
            Text("raw", "The folder of raw YYYY_*.txt speeches", "DIR", @default: TextCorpus.SotuRawDirectory),
            Text("out", "Where the train/valid/test splits go", "DIR", @default: TextCorpus.SotuDirectory));
        yield return Verb("device", "List the devices found and the one --device auto picks.");
        yield return Verb("bench", "Validate and time every kernel against this machine's measured fp32 peak and bandwidth.",
            Flag("quick", "Shorter timing runs"),
            Device());
        yield return Verb("ptx",
            "Compile every ILGPU kernel to PTX and assemble it with ptxas (LDDM_PTXAS); exit 1 on any error or a spilling hot kernel.",
            Choice("arch", "One architecture (default: all)", PtxCompiler.Architectures),
            Text("dump", "Write each kernel's PTX into this folder", "DIR"));
        yield return Verb("cl",
            "Generate OpenCL C for every kernel an OpenCL device loads and check it with clang; exit 1 on any error.",
            Choice("vendor", "One vendor (default: both)", ["generic", "intel"]),
            Text("dump", "Write each kernel's OpenCL C into this folder", "DIR"));
    }

    private static Command Verb(string name, string description, params Option[] options)
    {
        var command = new Command(name, description);
        foreach (var option in options)
        {
            command.Options.Add(option);
        }
        return command;
    }

    /// <summary>A value option; <paramref name="default"/> is shown by --help and used when the flag is absent.</summary>
    private static Option<string> Text(string name, string description, string helpName, string? @default = null)
    {
        var option = new Option<string>("--" + name) { Description = description, HelpName = helpName };
        if (@default is not null)
        {
            option.DefaultValueFactory = _ => @default;
        }
        return option;
    }

    private static Option<string> Required(Option<string> option)
    {
        option.Required = true;
        return option;
    }

    /// <summary>A train flag whose default comes from the config (file or built-in), so --help states it in words.</summary>
    private static string ConfigDefault(object value) =>
        string.Create(CultureInfo.InvariantCulture, $" [default: {value}, or the --config file's]");

    private static Option<string> Checked(string name, string description, string helpName, Func<string, string?> check,
        string? @default = null)
    {
        var option = Text(name, description, helpName, @default);
        option.Validators.Add(result =>
        {
            if (result.Implicit || result.Tokens.Count == 0)
            {
                return;
            }
            string token = result.Tokens[0].Value;
            if (check(token) is { } expected)
            {
                result.AddError($"--{name} expects {expected} but got '{token}'");
            }
        });
        return option;
    }

    private static Option<string> Integer(string name, string description, long min, long max, long? @default = null,
        object? configDefault = null, string? alias = null)
    {
        string range = $"in {min}..{max}";
        var option = Checked(name, configDefault is null ? description : description + ConfigDefault(configDefault), "N",
            token => long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n) && n >= min && n <= max
                ? null : string.Create(CultureInfo.InvariantCulture, $"an integer {range}"),
            @default?.ToString(CultureInfo.InvariantCulture));
        if (alias is not null)
        {
            option.Aliases.Add(alias);
        }
        return option;
    }

    /// <summary>--seed: an integer in 0..2⁶⁴−1, the same for every verb.</summary>
    private static Option<string> Seed(ulong? @default = null, ulong? configDefault = null) =>
        Checked("seed",
            "Random seed" + (configDefault is { } c ? ConfigDefault(c) : ""), "S",
            token => ulong.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out _)
                ? null : $"an integer in 0..{ulong.MaxValue}",
            @default?.ToString(CultureInfo.InvariantCulture));

    /// <summary>--temperature: a finite number &gt; 0 with a '.' decimal point.</summary>
    private static Option<string> Temperature() =>
        Checked("temperature", "Sampling temperature (1 = the model's distribution)", "T",
            token => float.TryParse(token, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
                CultureInfo.InvariantCulture, out float t) && float.IsFinite(t) && t > 0
                ? null : "a number > 0 such as 0.8 (with a '.' decimal point)",
            "1");

    private static Option<string> Choice(string name, string description, IReadOnlyList<string> choices, string? configDefault = null)
    {
        var option = Checked(name, configDefault is null ? description : description + ConfigDefault(configDefault), string.Join('|', choices),
            token => choices.Contains(token) ? null : "one of " + string.Join(", ", choices));
        option.CompletionSources.Add(choices.ToArray());
        return option;
    }

    private static Option<string> Corpus(string configDefault) =>
        Checked("corpus",
            "moby-dick (bundled), sotu (scripts/fetch-corpus.sh), or your own text: a UTF-8 .txt file or a folder of .txt files, " +
            "normalised to a-z and spaces and split 90/5/5 % (train/validation/test); the prepared splits are cached in OUT/corpus" +
            ConfigDefault(configDefault),
            "NAME|PATH",
            token => token.Trim().Length > 0 ? null : "moby-dick, sotu or the path of a text file or folder");

    private static Option<string> StepList(string description, string? @default) =>
        Checked("steps", description, "N,N,...",
            token =>
            {
                var parts = token.Split(',', StringSplitOptions.TrimEntries);
                return parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1)
                    ? null : "a comma-separated list of integers ≥ 1";
            },
            @default);

    private static Option<string>[] Checkpoint(string description, bool list) =>
        [Required(Checked("checkpoint", description, list ? "DIR[,DIR...]" : "DIR",
            token => token.Trim().Length > 0 ? null : "a run folder"))];

    private static Option<string> Device() =>
        Checked("device", $"The device: {Devices.Help}", "D",
            token => token.Trim().Length > 0 ? null : Devices.Help, "auto");

    /// <summary>--sampler and --latent-steps of sample, eval, sweep and eval-gen (<see cref="SamplerChoice"/>).</summary>
    private static Option<string>[] Sampler() =>
    [
        Checked("sampler", "FUJI: joint (one call per step) or sequential (latent first); one, or one per checkpoint", "joint|sequential[,...]",
            token => token.Split(',', StringSplitOptions.TrimEntries).All(s => s is "joint" or "sequential")
                ? null : "joint or sequential (or a comma-separated list of them)",
            "joint"),
        Integer("latent-steps", "FUJI sequential sampling: latent steps N_lat before the N token steps", 1, int.MaxValue, @default: 8),
    ];

    /// <summary>sample's conditional options (<see cref="ConditionalOptions"/>); none has a default, so absent means unconditional.</summary>
    private static Option<string>[] Conditional() =>
    [
        Text("prompt", "Text: keep this prompt (normalised like the corpus) and generate the rest of the sequence", "TEXT"),
        Text("infill", "Text: keep every character but the placeholder '_' (one generated position each); padded with free positions to --length", "TEXT"),
        Integer("length", "With --prompt/--infill: the sequence length (default: the checkpoint's L)", 1, int.MaxValue),
        Integer("block", "With --prompt/--infill: semi-autoregressive blocks of B positions (default: one block of L)", 0, int.MaxValue),
        Checked("seq-latent", "With --prompt/--infill, SEQ: the latent from the prior (default) or the encoder on the template", "prior|encoder",
            token => token is "prior" or "encoder" ? null : "prior or encoder"),
    ];

    private static Option<bool> Flag(string name, string description) =>
        new("--" + name) { Description = description, Arity = ArgumentArity.Zero };

    private static Option<string[]> Repeated(string name, string description, string helpName) =>
        new("--" + name) { Description = description, HelpName = helpName, Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };

    /// <summary>The values a verb's body reads: every option given, or defaulted, in its checked string form.</summary>
    internal static Options Fill(ParseResult result, Command command)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        var repeated = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var option in command.Options)
        {
            string name = option.Name.TrimStart('-');
            switch (option)
            {
                case Option<bool> flag:
                    if (result.GetValue(flag))
                    {
                        values[name] = null;
                    }
                    break;
                case Option<string[]> list:
                    if (result.GetValue(list) is { Length: > 0 } items)
                    {
                        repeated[name] = items;
                    }
                    break;
                case Option<string> text:
                    if (result.GetValue(text) is { } value)
                    {
                        values[name] = name == "corpus" ? CorpusValue(value) : value;
                    }
                    break;
                case HelpOption or VersionOption:
                    break;
                default:
                    throw new InvalidOperationException($"option {option.Name} has no reader");
            }
        }
        return new Options(values, repeated);
    }

    /// <summary>A corpus path is stored absolute, so a resumed run or a loaded checkpoint finds it from any folder.</summary>
    private static string CorpusValue(string value) =>
        value is "moby-dick" or "sotu" ? value : Path.GetFullPath(value);

    /// <summary>
    /// Parses <paramref name="args"/>; on errors returns one line per error in the user's terms (an unknown verb or
    /// option with the nearest valid one, a bad value naming its flag), else null.
    /// </summary>
    internal static IReadOnlyList<string>? Errors(ParseResult result)
    {
        if (result.Errors.Count == 0)
        {
            return null;
        }
        var command = result.CommandResult.Command;
        bool atRoot = command is RootCommand;
        var lines = new List<string>();
        var unmatched = result.UnmatchedTokens.ToList();
        bool afterUnknownOption = false;
        foreach (string token in unmatched)
        {
            bool wasAfterUnknownOption = afterUnknownOption;
            afterUnknownOption = token.StartsWith('-') && !token.Contains('=', StringComparison.Ordinal);
            if (wasAfterUnknownOption && !token.StartsWith('-'))
            {
                continue; // the value of the unknown option just reported
            }
            if (atRoot && !token.StartsWith('-'))
            {
                string? verb = Spelling.Nearest(Verbs, token);
                lines.Add($"unknown verb '{token}'{(verb is null ? "" : $" (did you mean '{verb}'?)")}");
            }
            else if (token.StartsWith('-'))
            {
                var names = command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal));
                string? near = Spelling.Nearest(names, token.Split('=', ':')[0]);
                lines.Add($"unknown option '{token}'{(atRoot ? "" : $" for 'lddm {command.Name}'")}{(near is null ? "" : $" (did you mean '{near}'?)")}");
            }
            else
            {
                lines.Add($"unexpected argument '{token}' (every value follows its --flag)");
            }
        }
        foreach (var error in result.Errors)
        {
            if (atRoot && error.SymbolResult is CommandResult)
            {
                if (unmatched.Count == 0)
                {
                    lines.Add("no verb given"); // System.CommandLine's "Required command was not provided"
                }
            }
            else if (!unmatched.Any(t => error.Message.Contains($"'{t}'", StringComparison.Ordinal)))
            {
                lines.Add(error.Message.TrimEnd('.'));
            }
        }
        string hint = atRoot ? "lddm --help lists the verbs" : $"lddm {command.Name} --help lists its options";
        lines[^1] += $" ({hint})";
        return lines;
    }
}
