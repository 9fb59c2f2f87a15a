using System.Globalization;
using Lddm.Kernels;
using Lddm.Training.Conditional;
using Lddm.Training.Data;

using Lddm.Training.Runs;
using Lddm.Training.Seq;

namespace Lddm.Cli;

/// <summary>
/// <c>lddm eval-cond</c>: conditional generation measured (issue 13). Text: real validation sequences keep a prefix of L/2
/// (<c>--task prefix</c>) or both ends around a gap of L/4 (<c>--task infill</c>); every checkpoint (EMA weights) completes
/// them at each N, scored by an AR judge beside the real span (<see cref="ConditionalEvaluation"/>). Sawtooth: the first
/// L/4 bits are kept and the completion's exact conditional NLL is reported (<see cref="SawtoothConditional"/>); no judge.
/// <c>--block</c> and <c>--seq-latent prior|encoder</c> take one value or one per checkpoint (a checkpoint may be listed
/// several times).
/// </summary>
internal static class EvalCondCommand
{
    public static int Run(Options options)
    {
        var dirs = Split(options.Value("checkpoint") ?? throw new UsageException("eval-cond needs --checkpoint DIR[,DIR...]"));
        string? judgeDir = options.Value("judge");
        bool labelled = options.Value("label") is not null;
        var labels = options.Value("label") is { } l ? Split(l) : [.. dirs.Select(d => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(d))))];
        var blocks = PerCheckpoint(options.Value("block") ?? "0", dirs.Count, "--block").Select(b =>
            int.TryParse(b, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 0 ? n : throw new UsageException($"--block expects integers ≥ 0 (0 = L) but got '{b}'")).ToList();
        var latents = PerCheckpoint(options.Value("seq-latent") ?? "prior", dirs.Count, "--seq-latent");
        var steps = SweepCommand.ParseSteps(options.Value("steps") ?? "2,4,8,16,32");
        string taskName = options.Value("task") ?? "prefix";
        var task = taskName switch
        {
            "prefix" => ConditionalTask.Prefix,
            "infill" => ConditionalTask.Infill,
            _ => throw new UsageException($"--task expects prefix or infill but got '{taskName}'"),
        };
        int count = options.Int("count") ?? 128;
        int batch = options.Int("batch") ?? 32;
        ulong seed = options.ULong("seed") ?? 1;
        string prefix = options.Value("out") ?? "eval-cond";
        string device = options.Value("device") ?? "auto";
        var sampler = SamplerChoice.Parse(options, dirs.Count);
        options.RejectUnused();
        if (labels.Count != dirs.Count)
        {
            throw new UsageException($"--label gives {labels.Count} labels for {dirs.Count} checkpoints");
        }
        if (count < 1 || batch < 1)
        {
            throw new UsageException($"--count and --batch must be ≥ 1 but are {count} and {batch}");
        }
        using var backend = Devices.Create(device);
        var loaded = new List<LddmModel>();
        try
        {
            var candidates = new List<ConditionalCandidate>();
            for (int i = 0; i < dirs.Count; i++)
            {
                var checkpoint = CheckpointLoading.Load(backend, dirs[i]);
                loaded.Add(checkpoint);
                string suffix = sampler.Apply(checkpoint.Model, i, dirs[i]);
                if (!labelled)
                {
                    labels[i] += suffix; // a default label says how it was sampled; a given one is kept as given
                }
                if (latents[i] == "encoder")
                {
                    if (checkpoint.Model is not SeqModel seq)
                    {
                        throw new ArgumentException($"--seq-latent encoder applies to SEQ checkpoints but '{dirs[i]}' is {checkpoint.Model.Kind}.");
                    }
                    ConditionalOptions.UsePromptAwareLatent(seq, dirs[i]);
                }
                else if (latents[i] != "prior")
                {
                    throw new UsageException($"--seq-latent expects prior or encoder but got '{latents[i]}'");
                }
                candidates.Add(new ConditionalCandidate(labels[i], checkpoint.Model, blocks[i]));
            }
            var data = loaded[0].Data;
            if (loaded.Any(c => c.Data.Vocabulary != data.Vocabulary || c.Data.Length != data.Length))
            {
                throw new ArgumentException("eval-cond: every checkpoint must share the data (K and L) of the first.");
            }
            var real = data.Validation(count);
            string markdown;
            if (data is SawtoothData saw)
            {
                var rows = SawtoothConditional.Run(saw.Generator, candidates, steps, real, data.Length / 4, seed, batch, Console.Out);
                markdown = SawtoothConditional.Markdown(rows);
            }
            else
            {
                if (judgeDir is null)
                {
                    throw new UsageException("eval-cond on text needs --judge DIR (an --model ar checkpoint)");
                }
                var (judge, _) = FrozenEncoders.LoadJudge(backend, judgeDir);
                using var judgeModel = judge;
                if (judge.Config.Vocab - 1 != data.Vocabulary)
                {
                    throw new ArgumentException($"the judge has K = {judge.Config.Vocab - 1} tokens but the checkpoints K = {data.Vocabulary}: they must share the data.");
                }
                var rows = ConditionalEvaluation.Run(judge, task, candidates, steps, real, seed, batch, Console.Out);
                markdown = ConditionalEvaluation.Markdown(rows);
            }
            File.WriteAllText(prefix + ".md", markdown);
            Console.WriteLine($"wrote {prefix}.md");
        }
        finally
        {
            foreach (var checkpoint in loaded)
            {
                checkpoint.Dispose();
            }
        }
        return 0;
    }

    private static List<string> Split(string list) =>
        [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private static List<string> PerCheckpoint(string list, int checkpoints, string option)
    {
        var values = Split(list);
        if (values.Count == 1)
        {
            return [.. Enumerable.Repeat(values[0], checkpoints)];
        }
        return values.Count == checkpoints ? values
            : throw new UsageException($"{option} gives {values.Count} values for {checkpoints} checkpoints (give one, or one per checkpoint)");
    }
}
