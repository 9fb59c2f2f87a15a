using System.Globalization;
using Lddm.Kernels;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Distributed;
using Lddm.Training.Training;

namespace Lddm.Cli;

/// <summary>
/// <c>lddm train</c>: resolve the config, print it, train with progress, checkpoint, then show parameter counts and
/// samples. SEQ or FUJI with stage 0 trains stage 1 into OUT/stage1, then stage 2 from it into OUT (FUJI with a frozen
/// encoder: stage 2 alone).
/// Under <c>mpirun -np K</c> (K &gt; 1) each process is one data-parallel rank over Open MPI; rank 0 alone prints and
/// writes, and a rank that fails ends the whole job (MPI_Abort) with its error.
/// </summary>
internal static class TrainCommand
{
    public static int Run(Options options)
    {
        ICollective collective;
        try
        {
            collective = Collectives.FromEnvironment();
        }
        catch (DllNotFoundException e)
        {
            Console.Error.WriteLine($"lddm: {e.Message}");
            return 2;
        }
        using (collective)
        {
            if (collective is not MpiCollective mpi)
            {
                return Run(options, collective);
            }
            try
            {
                return Run(options, collective);
            }
            catch (Exception e)
            {
                // One rank failing must end the job (the others would wait in their next collective): MPI_Abort.
                bool input = e is ArgumentException or IOException or InvalidDataException or FormatException or NotSupportedException or UsageException;
                Console.Error.WriteLine($"lddm: rank {mpi.Rank} of {mpi.Size} failed: {(input ? e.Message : e.ToString())}");
                Console.Error.Flush();
                mpi.Abort(input ? 2 : 1);
                throw; // not reached: MPI_Abort ends the process
            }
        }
    }

    private static int Run(Options options, ICollective collective)
    {
        var config = Resolve(options, out string? outDir, out bool resume, out string device);
        outDir ??= Path.Combine("runs", string.Create(CultureInfo.InvariantCulture,
            $"{config.Model}-{config.Data}-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
        var output = collective.Rank == 0 ? Console.Out : TextWriter.Null;
        using var backend = CreateBackend(device, collective);
        output.WriteLine($"device: {backend.Name}");
        if (collective.Size > 1)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ranks:  {collective.Name}: each rank {config.Batch} × {config.GradAccumulation} sequences per step, the job {collective.Size * config.Batch * config.GradAccumulation}"));
        }
        var data = TrainingRun.Data(config);
        output.WriteLine($"data:   {data.Description}");
        output.WriteLine($"output: {Path.GetFullPath(outDir)}");
        if (collective.Rank == 0 && !resume && Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
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
                output.WriteLine("stopping after this step; saving a checkpoint (Ctrl+C again to abort)");
                stop.Cancel();
            }
        };
        if (config.Model is not ("seq" or "fuji") || config.Stage != 0)
        {
            return TrainOne(backend, config, data, outDir, resume ? Resuming.Required : Resuming.No, stop.Token, collective, output);
        }
        var (stage1, stage2) = TrainingRun.Stages(config, Path.Combine(outDir, "stage1"));
        var mode = resume ? Resuming.IfSaved : Resuming.No;
        string name = config.Model.ToUpperInvariant();
        if (stage1 is null)
        {
            output.WriteLine($"{name}: the encoder is frozen ({config.Encoder}), so stage 1 is skipped: stage 2 for all {stage2.Steps} steps");
            return TrainOne(backend, stage2, data, outDir, mode, stop.Token, collective, output);
        }
        output.WriteLine(config.Model == "seq"
            ? $"SEQ stage 1 of 2: {stage1.Steps} steps (encoder + decoder) into {Path.Combine(outDir, "stage1")}"
            : $"FUJI stage 1 of 2: {stage1.Steps} steps (MM-DiT + encoder, token loss only) into {Path.Combine(outDir, "stage1")}");
        int rc = TrainOne(backend, stage1, data, Path.Combine(outDir, "stage1"), mode, stop.Token, collective, output);
        if (rc != 0)
        {
            return rc;
        }
        output.WriteLine(config.Model == "seq"
            ? $"SEQ stage 2 of 2: {stage2.Steps} steps (prior + decoder, encoder frozen) into {outDir}"
            : $"FUJI stage 2 of 2: {stage2.Steps} steps (MM-DiT, both losses, encoder frozen) into {outDir}");
        return TrainOne(backend, stage2, data, outDir, mode, stop.Token, collective, output);
    }

    private enum Resuming { No, Required, IfSaved }

    private static int TrainOne(Backend backend, TrainConfig config, ITokenData data, string outDir, Resuming resume, CancellationToken stop,
        ICollective collective, TextWriter output)
    {
        output.WriteLine($"config: {config.ToJson().ToJsonString()}");
        using var trainer = new Trainer(backend, config, data, outDir, output, collective);
        var network = trainer.Model.Network;
        long trained = trainer.Model.TrainableParameters.Sum(np => (long)np.Parameter.Shape.Elements);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model:  {trainer.Model.Kind} ({config.Preset}): {network.ParameterCount:N0} parameters, {trained:N0} trained"));
        // Rank 0 alone reads the output directory; the others follow its decision.
        bool saved = resume == Resuming.IfSaved && collective.Broadcast(collective.Rank == 0 && new CheckpointStore(outDir).Exists);
        if (resume == Resuming.Required || saved)
        {
            trainer.Resume();
        }
        trainer.Run(stop);
        if (stop.IsCancellationRequested || trainer.Step < config.Steps)
        {
            output.WriteLine($"resume with: lddm train --out {outDir} --resume (and the same config)");
            return 130;
        }
        if (collective.Rank == 0)
        {
            PrintParameterCounts(trainer.Model);
            SampleCommand.PrintSamples(trainer.Model, trainer.Ema, data, count: 4, steps: [16, config.Length], config.Seed);
        }
        return 0;
    }

    /// <summary>
    /// The backend --device names. Several ranks on one machine share its cores (a CPU rank gets cores / local ranks
    /// threads) and its GPUs (with --device auto on a CUDA machine, local rank r takes cuda:(r mod GPUs)).
    /// </summary>
    private static Backend CreateBackend(string device, ICollective collective)
    {
        if (collective.Size == 1)
        {
            return Devices.Create(device);
        }
        string spec = device.Trim().ToLowerInvariant() == "auto" ? Devices.ResolveAuto() : device.Trim().ToLowerInvariant();
        if (spec == "cpu")
        {
            return new Lddm.Kernels.Cpu.CpuBackend(Math.Max(1, Environment.ProcessorCount / Collectives.LocalRanks()));
        }
        if (device.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase) && spec.StartsWith("cuda:", StringComparison.Ordinal))
        {
            int gpus = Devices.List().Count(d => d.Spec.StartsWith("cuda:", StringComparison.Ordinal));
            spec = string.Create(CultureInfo.InvariantCulture, $"cuda:{Collectives.LocalRank() % Math.Max(gpus, 1)}");
        }
        return Devices.Create(spec);
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
