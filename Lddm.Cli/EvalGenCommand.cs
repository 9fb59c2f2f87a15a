using System.Globalization;
using Lddm.Kernels;
using Lddm.Training.Evaluation;
using Lddm.Training.Runs;

namespace Lddm.Cli;

/// <summary>
/// <c>lddm eval-gen</c>: the unconditional-generation sweep of digest §7.2. Loads an AR judge (a <c>--model ar</c>
/// checkpoint, EMA weights), then for each checkpoint (EMA weights) and each N draws K sequences, and reports the
/// generative perplexity under the judge and the unigram entropy, with the same metrics on K real validation
/// sequences as reference lines, as CSV + Markdown + PNG (<see cref="SweepReport"/>).
/// </summary>
internal static class EvalGenCommand
{
    public static int Run(Options options)
    {
        string judgeDir = options.Value("judge") ?? throw new UsageException("eval-gen needs --judge DIR (an --model ar checkpoint)");
        var dirs = Split(options.Value("checkpoint") ?? throw new UsageException("eval-gen needs --checkpoint DIR[,DIR...]"));
        bool labelled = options.Value("label") is not null;
        var labels = options.Value("label") is { } l ? Split(l) : [.. dirs.Select(d => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(d))))];
        if (labels.Count != dirs.Count)
        {
            throw new UsageException($"--label gives {labels.Count} labels for {dirs.Count} checkpoints");
        }
        var steps = Split(options.Value("steps") ?? "2,4,8,16,32,64,128").Select(s =>
            int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 1
                ? n : throw new UsageException($"--steps expects positive integers but got '{s}'")).ToList();
        int count = options.Int("count") ?? 64;
        int batch = options.Int("batch") ?? 16;
        ulong seed = options.ULong("seed") ?? 1;
        string prefix = options.Value("out") ?? "eval-gen";
        string t = options.Value("temperature") ?? "1";
        float temperature = float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out float parsed) && float.IsFinite(parsed)
            ? parsed : throw new UsageException($"--temperature expects a finite number but got '{t}'");
        string device = options.Value("device") ?? "auto";
        var sampler = SamplerChoice.Parse(options, dirs.Count);
        options.RejectUnused();
        if (count < 1 || batch < 1)
        {
            throw new UsageException($"--count and --batch must be ≥ 1 but are {count} and {batch}");
        }

        using var backend = Devices.Create(device);
        Console.WriteLine($"device: {backend.Name}");
        var (judge, judgeConfig) = FrozenEncoders.LoadJudge(backend, judgeDir);
        using var judgeModel = judge;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"judge:  {Path.GetFullPath(judgeDir)} (AR {judgeConfig.Preset}, {judge.ParameterCount:N0} parameters, K = {judge.Config.Vocab - 1}, L ≤ {judge.Config.MaxLength})"));

        var loaded = new List<LddmModel>();
        try
        {
            var candidates = new List<SweepCandidate>();
            IReadOnlyList<int[]> real = [];
            for (int i = 0; i < dirs.Count; i++)
            {
                var checkpoint = CheckpointLoading.Load(backend, dirs[i]); // EMA weights, eval mode
                loaded.Add(checkpoint);
                var (model, config, data) = (checkpoint.Model, checkpoint.Config, checkpoint.Data);
                if (data.Vocabulary != judge.Config.Vocab - 1)
                {
                    throw new ArgumentException(
                        $"checkpoint '{dirs[i]}' has K = {data.Vocabulary} tokens but the judge has K = {judge.Config.Vocab - 1}: they must share the data.");
                }
                string suffix = sampler.Apply(model, i, dirs[i]);
                if (!labelled)
                {
                    labels[i] += suffix; // the default label says how it was sampled; a given one is kept as given
                }
                FrozenEncoders.RefuseJudge(judgeDir, config, labels[i]);
                candidates.Add(new SweepCandidate(labels[i], model, config.Length));
                Console.WriteLine($"model:  {labels[i]} = {Path.GetFullPath(dirs[i])} ({config.Model}, {config.Preset}, L = {config.Length}, {data.Description})");
                if (i == 0)
                {
                    real = data.Validation(count);
                }
            }
            var result = GenerationSweep.Run(judge, candidates, steps, count, batch, seed, temperature, real, Console.Out,
                Console.IsErrorRedirected ? null : Console.Error);
            string title = $"Generation sweep ({count} samples per point, AR judge)";
            SweepReport.Write(prefix, title, result.Rows, result.ReferenceLines);
            Lddm.Plots.SweepPlots.Write(prefix, title, result.Rows, result.ReferenceLines);
            Console.WriteLine($"wrote {prefix}.csv, {prefix}.md, {prefix}.png");
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
}
