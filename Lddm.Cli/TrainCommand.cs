using System.Globalization;
using Lddm.Kernels;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Training;

namespace Lddm.Cli;

/// <summary>
/// <c>lddm train</c>: resolve the config, print it, train with progress, checkpoint, then show parameter counts and
/// samples. SEQ or FUJI with stage 0 trains stage 1 into OUT/stage1, then stage 2 from it into OUT (FUJI with a frozen
/// encoder: stage 2 alone).
/// </summary>
internal static class TrainCommand
{
    public static int Run(Options options)
    {
        var config = Resolve(options, out string? outDir, out bool resume, out string device);
        outDir ??= Path.Combine("runs", string.Create(CultureInfo.InvariantCulture,
            $"{config.Model}-{config.Data}-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
        using var backend = Devices.Create(device);
        Console.WriteLine($"device: {backend.Name}");
        var data = TrainingRun.Data(config);
        Console.WriteLine($"data:   {data.Description}");
        Console.WriteLine($"output: {Path.GetFullPath(outDir)}");
        if (!resume && Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
        {
            throw new ArgumentException($"Output directory '{outDir}' is not empty: pass --resume to continue that run, or choose another --out.");
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
        if (config.Model is not ("seq" or "fuji") || config.Stage != 0)
        {
            return TrainOne(backend, config, data, outDir, resume ? Resuming.Required : Resuming.No, stop.Token);
        }
        var (stage1, stage2) = TrainingRun.Stages(config, Path.Combine(outDir, "stage1"));
        var mode = resume ? Resuming.IfSaved : Resuming.No;
        string name = config.Model.ToUpperInvariant();
        if (stage1 is null)
        {
            Console.WriteLine($"{name}: the encoder is frozen ({config.Encoder}), so stage 1 is skipped: stage 2 for all {stage2.Steps} steps");
            return TrainOne(backend, stage2, data, outDir, mode, stop.Token);
        }
        Console.WriteLine(config.Model == "seq"
            ? $"SEQ stage 1 of 2: {stage1.Steps} steps (encoder + decoder) into {Path.Combine(outDir, "stage1")}"
            : $"FUJI stage 1 of 2: {stage1.Steps} steps (MM-DiT + encoder, token loss only) into {Path.Combine(outDir, "stage1")}");
        int rc = TrainOne(backend, stage1, data, Path.Combine(outDir, "stage1"), mode, stop.Token);
        if (rc != 0)
        {
            return rc;
        }
        Console.WriteLine(config.Model == "seq"
            ? $"SEQ stage 2 of 2: {stage2.Steps} steps (prior + decoder, encoder frozen) into {outDir}"
            : $"FUJI stage 2 of 2: {stage2.Steps} steps (MM-DiT, both losses, encoder frozen) into {outDir}");
        return TrainOne(backend, stage2, data, outDir, mode, stop.Token);
    }

    private enum Resuming { No, Required, IfSaved }

    private static int TrainOne(Backend backend, TrainConfig config, ITokenData data, string outDir, Resuming resume, CancellationToken stop)
    {
        Console.WriteLine($"config: {config.ToJson().ToJsonString()}");
        using var trainer = new Trainer(backend, config, data, outDir, Console.Out);
        var network = trainer.Model.Network;
        long trained = trainer.Model.TrainableParameters.Sum(np => (long)np.Parameter.Shape.Elements);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model:  {trainer.Model.Kind} ({config.Preset}): {network.ParameterCount:N0} parameters, {trained:N0} trained"));
        if (resume == Resuming.Required || (resume == Resuming.IfSaved && new CheckpointStore(outDir).Exists))
        {
            trainer.Resume();
        }
        trainer.Run(stop);
        if (stop.IsCancellationRequested)
        {
            Console.WriteLine($"resume with: lddm train --out {outDir} --resume (and the same config)");
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

    /// <summary>Defaults ← --config file ← named flags ← --set overrides; then validated as a whole.</summary>
    private static TrainConfig Resolve(Options options, out string? outDir, out bool resume, out string device)
    {
        string? file = options.Value("config");
        var config = file is null ? new TrainConfig() : TrainConfig.Load(file);
        var sets = new List<string>();
        foreach (string key in new[] { "model", "stage", "init", "data", "corpus", "preset", "steps", "batch", "length", "seed" })
        {
            if (options.Value(key) is { } v)
            {
                sets.Add($"{key}={v}");
            }
        }
        sets.AddRange(options.Values("set"));
        outDir = options.Value("out");
        resume = options.Flag("resume");
        device = options.Value("device") ?? "auto";
        options.RejectUnused();
        return config.WithOverrides(sets).Validate();
    }
}
