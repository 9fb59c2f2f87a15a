using System.Globalization;
using Lddm.Kernels;
using Lddm.Training.Training;

namespace Lddm.Cli;

/// <summary><c>lddm train</c>: resolve the config, print it, train with progress, checkpoint, then show samples.</summary>
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
        Console.WriteLine($"config: {config.ToJson().ToJsonString()}");
        Console.WriteLine($"output: {Path.GetFullPath(outDir)}");
        using var trainer = new Trainer(backend, config, data, outDir, Console.Out);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model:  DiT {config.Preset}: {trainer.Model.ParameterCount:N0} parameters, {trainer.Model.Config.Layers} layers, hidden {trainer.Model.Config.Hidden}"));
        if (resume)
        {
            trainer.Resume();
        }
        else if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
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
        trainer.Run(stop.Token);
        if (stop.IsCancellationRequested)
        {
            Console.WriteLine($"resume with: lddm train --out {outDir} --resume (and the same config)");
            return 130;
        }
        SampleCommand.PrintSamples(trainer.Model, trainer.Ema, trainer.Objective.Schedule, data, count: 4, steps: [16, config.Length], config.Seed);
        return 0;
    }

    /// <summary>Defaults ← --config file ← named flags ← --set overrides; then validated as a whole.</summary>
    private static TrainConfig Resolve(Options options, out string? outDir, out bool resume, out string device)
    {
        string? file = options.Value("config");
        var config = file is null ? new TrainConfig() : TrainConfig.Load(file);
        var sets = new List<string>();
        foreach (string key in new[] { "model", "data", "corpus", "preset", "steps", "batch", "length", "seed" })
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
