using System.Globalization;
using System.Text.Json.Nodes;
using Lddm.Kernels;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Training;

namespace Lddm.Cli;

/// <summary>
/// <c>lddm train</c>: resolve the config, print it, train with progress, checkpoint, then show parameter counts and
/// samples. SEQ with stage 0 trains stage 1 into OUT/stage1, then stage 2 from it into OUT.
/// </summary>
internal static class TrainCommand
{
    public static int Run(Options options)
    {
        var request = Parse(options);
        var fresh = request.Resume ? null : Resolve(request, null); // a bad config fails before --out is touched
        string outDir = request.OutDir ?? Path.Combine("runs", string.Create(CultureInfo.InvariantCulture,
            $"{fresh!.Model}-{fresh.Data}-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
        // The folder is checked (creatable, writable), locked against a second run and cleaned of an interrupted
        // save's leftovers before anything else happens.
        using var run = RunDirectory.Open(outDir);
        foreach (string note in run.Notes)
        {
            Console.WriteLine($"output: {note}");
        }
        var store = new CheckpointStore(outDir);
        var config = fresh ?? Resolve(request, store);
        if (!request.Resume && !run.IsEmpty)
        {
            throw new ArgumentException($"Output directory '{outDir}' is not empty: pass --resume to continue that run, or choose another --out.");
        }
        // run.json lets a bare --resume continue the run. It is written once the model is built and the checkpoint
        // (if any) has accepted the config, just before step 1: a run that fails before that leaves the folder empty,
        // and a refused --resume (say --steps below the saved step) leaves the saved config as it was.
        Action saveRunConfig = () => store.SaveRunConfig(config.ToJson());
        using var backend = Devices.Create(request.Device);
        Console.WriteLine($"device: {backend.Name}");
        var data = TrainingRun.Data(config);
        Console.WriteLine($"data:   {data.Description}");
        Console.WriteLine($"output: {Path.GetFullPath(outDir)}");
        if (backend.Kind == BackendKind.Cpu)
        {
            MemoryEstimate.Require(config, data.Vocabulary, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
        }
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            // First Ctrl+C: finish the current step, save a checkpoint, exit. A second one kills the process.
            if (!stop.IsCancellationRequested)
            {
                e.Cancel = true;
                Console.WriteLine("stopping after this step; saving a checkpoint (Ctrl+C again to abort)");
                stop.Cancel();
            }
        };
        var mode = request.Resume ? Resuming.IfSaved : Resuming.No;
        if (config.Model != "seq" || config.Stage != 0)
        {
            return TrainOne(backend, config, data, run, outDir, mode, saveRunConfig, stop.Token);
        }
        var (stage1, stage2) = TrainingRun.SeqStages(config, Path.Combine(outDir, "stage1"));
        Console.WriteLine($"SEQ stage 1 of 2: {stage1.Steps} steps (encoder + decoder) into {Path.Combine(outDir, "stage1")}");
        int rc = TrainOne(backend, stage1, data, run, Path.Combine(outDir, "stage1"), mode, saveRunConfig, stop.Token);
        if (rc != 0)
        {
            return rc;
        }
        Console.WriteLine($"SEQ stage 2 of 2: {stage2.Steps} steps (prior + decoder, encoder frozen) into {outDir}");
        return TrainOne(backend, stage2, data, run, outDir, mode, saveRunConfig, stop.Token);
    }

    private enum Resuming { No, IfSaved }

    private static int TrainOne(Backend backend, TrainConfig config, ITokenData data, RunDirectory run, string outDir, Resuming resume,
        Action started, CancellationToken stop)
    {
        Console.WriteLine($"config: {config.ToJson().ToJsonString()}");
        using var trainer = new Trainer(backend, config, data, outDir, Console.Out);
        var network = trainer.Model.Network;
        long trained = trainer.Model.TrainableParameters.Sum(np => (long)np.Parameter.Shape.Elements);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model:  {trainer.Model.Kind} ({config.Preset}): {network.ParameterCount:N0} parameters, {trained:N0} trained"));
        // A snapshot: weights (all), EMA and two AdamW moments (trained ones), in float32, plus headers.
        run.RequireSpace(4 * (network.ParameterCount + 3 * trained) + (1 << 20));
        if (resume == Resuming.IfSaved)
        {
            if (new CheckpointStore(outDir).Exists)
            {
                trainer.Resume();
            }
            else
            {
                Console.WriteLine($"resume: no checkpoint was saved in {outDir} yet; starting at step 1");
            }
        }
        started();
        trainer.Run(stop);
        if (stop.IsCancellationRequested)
        {
            Console.WriteLine($"resume with: lddm train --out {run.Path} --resume");
            return 130;
        }
        PrintParameterCounts(trainer.Model);
        SampleCommand.PrintSamples(trainer.Model, trainer.Ema, data, count: 4, steps: [16, config.Length], config.Seed);
        return 0;
    }

    /// <summary>Parameters per top-level sub-network of <see cref="ITrainableModel.Network"/> (frozen ones marked).</summary>
    private static void PrintParameterCounts(ITrainableModel model)
    {
        var trainable = model.TrainableParameters.Select(np => np.Parameter).ToHashSet();
        Console.WriteLine("parameters by sub-network:");
        foreach (var group in model.Network.NamedParameters().GroupBy(np => np.Name.Split('.')[0]))
        {
            long total = group.Sum(np => (long)np.Parameter.Shape.Elements);
            long frozen = group.Where(np => !trainable.Contains(np.Parameter)).Sum(np => (long)np.Parameter.Shape.Elements);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {group.Key,-24} {total,14:N0}{(frozen > 0 ? $"  ({frozen:N0} frozen)" : "")}"));
        }
    }

    private sealed record Request(TrainConfig? Base, string? File, List<string> Sets, string? OutDir, bool Resume, string Device);

    private static Request Parse(Options options)
    {
        string? file = options.Value("config");
        var config = file is null ? null : TrainConfig.Load(file);
        var sets = new List<string>();
        foreach (string key in new[] { "model", "stage", "init", "data", "corpus", "preset", "steps", "batch", "length", "seed" })
        {
            if (options.Value(key) is { } v)
            {
                sets.Add($"{key}={v}");
            }
        }
        sets.AddRange(options.Values("set"));
        string? outDir = options.Value("out");
        bool resume = options.Flag("resume");
        string device = options.Value("device") ?? "auto";
        options.RejectUnused();
        if (resume && outDir is null)
        {
            throw new UsageException("--resume needs --out DIR (the run folder to continue)");
        }
        return new Request(config, file, sets, outDir, resume, device);
    }

    /// <summary>
    /// Defaults (or, with --resume and no --config, the run's saved config) ← --config file ← named flags ← --set
    /// overrides; then validated as a whole. On --resume only <see cref="TrainConfig.ExtendableKeys"/> may differ
    /// from the saved config.
    /// </summary>
    private static TrainConfig Resolve(Request request, CheckpointStore? store)
    {
        JsonObject? saved = request.Resume ? store!.ReadRunConfig() : null;
        if (request.Resume && saved is null && request.Base is null && request.Sets.Count == 0)
        {
            // Killed before it saved anything: its config is unknown, and the defaults would be a different run.
            throw new ArgumentException($"--resume: {store!.Directory} holds no saved config or checkpoint (the run stopped before saving one); start it again with its flags or --config (adding --resume is fine).");
        }
        var baseConfig = request.Base
            ?? (saved is null ? new TrainConfig() : TrainConfig.FromJson(saved, $"saved in {store!.Directory}"));
        var config = baseConfig.WithOverrides(request.Sets).Validate();
        if (saved is not null)
        {
            var diffs = ConfigDiff.Between(TrainConfig.FromJson(saved, store!.Directory).ToJson(), config.ToJson())
                .Where(d => !TrainConfig.ExtendableKeys.Contains(d[..d.IndexOf(':', StringComparison.Ordinal)])).ToList();
            if (diffs.Count > 0)
            {
                throw new ArgumentException($"--resume continues the run in {store!.Directory} with its saved config; only {string.Join(", ", TrainConfig.ExtendableKeys)} may change, but: {string.Join("; ", diffs)}.");
            }
        }
        return config;
    }
}
