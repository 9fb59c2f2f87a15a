using System.Diagnostics;
using System.Globalization;
using Lddm.Kernels;
using Lddm.Training.Data;
using Lddm.Training.Engine;
using Lddm.Training.Evaluation;

namespace Lddm.Cli;

/// <summary>
/// <c>lddm sweep</c>: the sawtooth sample-quality metrics of every checkpoint at every N, written as one report
/// (CSV, Markdown tables) by <see cref="SweepReport"/> and PNG plots by Lddm.Plots.
/// </summary>
internal static class SweepCommand
{
    public static int Run(Options options)
    {
        var dirs = Split(options.Value("checkpoint") ?? throw new UsageException("sweep needs --checkpoint DIR[,DIR...]"));
        var labels = options.Value("label") is { } l ? Split(l) : null;
        var steps = ParseSteps(options.Value("steps") ?? "2,4,8,16,32,64,128");
        int count = options.Int("count") ?? 2048;
        int batch = options.Int("batch") ?? 256;
        string prefix = options.Value("out") ?? throw new UsageException("sweep needs --out PREFIX");
        ulong seed = options.ULong("seed") ?? 1;
        string device = options.Value("device") ?? "auto";
        string? append = options.Value("append");
        var sampler = SamplerChoice.Parse(options, dirs.Count);
        options.RejectUnused();
        if (labels is not null && labels.Count != dirs.Count)
        {
            throw new ArgumentException($"--label names {labels.Count} models but --checkpoint gives {dirs.Count} directories.");
        }
        using var backend = Devices.Create(device);
        Console.WriteLine($"device: {backend.Name}");
        // --append: rows of an earlier sweep (same data, count and seed) join this one's report.
        var rows = append is null ? [] : new List<SweepRow>(SweepReport.ReadCsv(append));
        SawtoothEvaluation? evaluation = null;
        string? description = null;
        for (int i = 0; i < dirs.Count; i++)
        {
            using var loaded = CheckpointLoading.Load(backend, dirs[i]);
            if (loaded.Data is not SawtoothData saw)
            {
                throw new ArgumentException($"sweep evaluates sawtooth checkpoints; {dirs[i]} was trained on {loaded.Data.Description}.");
            }
            if (description is not null && description != saw.Description)
            {
                throw new ArgumentException($"Every checkpoint of a sweep needs the same data: {dirs[i]} has '{saw.Description}', the first '{description}'.");
            }
            description ??= saw.Description;
            if (evaluation is null)
            {
                evaluation = new SawtoothEvaluation(saw, count, seed);
                PrintReference(evaluation);
            }
            string suffix = sampler.Apply(loaded.Model, i, dirs[i]);
            string label = labels?[i] ?? $"{loaded.Model.Kind}:{Path.GetFileName(Path.TrimEndingDirectorySeparator(dirs[i]))}{suffix}";
            foreach (int n in steps)
            {
                rows.AddRange(EvaluateSawtooth(evaluation, loaded.Model, label, n, batch));
            }
        }
        string title = $"{description}: sample quality vs sampling steps ({count} samples)";
        SweepReport.Write(prefix, title, rows, evaluation!.ReferenceLines);
        Lddm.Plots.SweepPlots.Write(prefix, title, rows, evaluation.ReferenceLines);
        Console.WriteLine($"wrote {prefix}.csv, {prefix}.md, {prefix}.png and one {prefix}-<metric>.png per metric");
        return 0;
    }

    /// <summary>The real sequences' NLL, its spread, entropy and saw-phase coverage (the reference lines).</summary>
    public static void PrintReference(SawtoothEvaluation e) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"real data ({e.Count} sequences): exact NLL {e.RealNll.Mean:F2} ± {e.RealNll.StandardError:F2} bits/sequence (SD {e.RealNllSd.Mean:F2} ± {e.RealNllSd.StandardError:F2}); unigram entropy {e.RealEntropy.Mean:F4} ± {e.RealEntropy.StandardError:F4} nats/sequence; ML saw phase: {Describe(e.RealCoverage)} ({e.Coverage.Cells} equal-mass cells)"));

    private static string Describe(CoverageTest t) => string.Create(CultureInfo.InvariantCulture,
        $"χ² {t.ChiSquare:F1} on {t.Dof} dof (p {t.ChiSquareP:G3}), KS {t.Ks:F3} (p {t.KsP:G3})");

    /// <summary>Samples and scores one (model, N), with a progress line on an interactive terminal; prints the result.</summary>
    public static IReadOnlyList<SweepRow> EvaluateSawtooth(SawtoothEvaluation e, ITrainableModel model, string label, int steps, int batch)
    {
        var clock = Stopwatch.StartNew();
        IProgress<int>? progress = Console.IsErrorRedirected ? null
            : new SynchronousProgress(done => Console.Error.Write($"\r  {label} N = {steps}: {done}/{e.Count} sequences "));
        var rows = e.Evaluate(model, label, steps, batch, progress);
        if (progress is not null)
        {
            Console.Error.Write('\r' + new string(' ', 60) + '\r');
        }
        SweepRow Get(string metric) => rows.Single(r => r.Metric == metric);
        var (nll, kl, h) = (Get(SawtoothEvaluation.Nll), Get(SawtoothEvaluation.UnigramKl), Get(SawtoothEvaluation.UnigramEntropy));
        var (sd, chi2, chi2P, ksP) = (Get(SawtoothEvaluation.NllSd), Get(SawtoothEvaluation.ShiftChiSquare), Get(SawtoothEvaluation.ShiftChiSquareP), Get(SawtoothEvaluation.ShiftKsP));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{label} N = {steps,4} ({nll.Nfe} NFE): NLL {nll.Mean:F2} ± {nll.StandardError:F2} bits/seq (SD {sd.Mean:F2} ± {sd.StandardError:F2}, data {e.RealNllSd.Mean:F2})  unigram KL {kl.Mean:E3} nats  unigram entropy {h.Mean:F4} ± {h.StandardError:F4} nats  saw phase χ² {chi2.Mean:F1}/{e.RealCoverage.Dof} dof (p {chi2P.Mean:G3}, KS p {ksP.Mean:G3})  ({clock.Elapsed.TotalSeconds:F1} s)"));
        return rows;
    }

    public static IReadOnlyList<int> ParseSteps(string list) => Split(list).Select(s =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 1 ? n
            : throw new UsageException($"--steps expects a comma-separated list of integers ≥ 1 but got '{s}'")).ToList();

    private static List<string> Split(string list) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool and can print late).</summary>
    private sealed class SynchronousProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
