using System.Globalization;
using System.Text.Json.Nodes;
using Lddm.Kernels;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Distributed;
using Lddm.Training.Engine;
using Lddm.Training.Runs;

namespace Lddm.Cli;

/// <summary>
/// <c>lddm train</c>: resolve the config, print it, train with progress, checkpoint, then show parameter counts and
/// samples. SEQ or FUJI with stage 0 trains stage 1 into OUT/stage1, then stage 2 from it into OUT (FUJI with a frozen
/// encoder: stage 2 alone).
/// Under <c>mpirun -np K</c> (K &gt; 1) each process is one data-parallel rank over Open MPI; rank 0 alone prints,
/// locks and writes the output folder, and a rank that fails ends the whole job (MPI_Abort) with its error.
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
        var request = Parse(options);
        var fresh = request.Resume ? null : Resolve(request, null); // a bad config fails before --out is touched
        string outDir = request.OutDir ?? Path.Combine("runs", string.Create(CultureInfo.InvariantCulture,
            $"{fresh!.Model}-{fresh.Data}-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
        var output = collective.Rank == 0 ? Console.Out : TextWriter.Null;
        // Rank 0 checks the folder (creatable, writable), locks it against a second run and cleans an interrupted
        // save's leftovers before anything else happens; the other ranks never write there.
        using var run = collective.Rank == 0 ? RunDirectory.Open(outDir) : null;
        foreach (string note in run?.Notes ?? [])
        {
            output.WriteLine($"output: {note}");
        }
        var store = new CheckpointStore(outDir);
        var config = fresh ?? Resolve(request, store);
        if (run is not null && !request.Resume && !run.IsEmpty)
        {
            throw new ArgumentException($"Output directory '{outDir}' is not empty: pass --resume to continue that run, or choose another --out.");
        }
        // run.json lets a bare --resume continue the run. It is written once the model is built and the checkpoint
        // (if any) has accepted the config, just before step 1: a run that fails before that leaves the folder empty,
        // and a refused --resume (say --steps below the saved step) leaves the saved config as it was.
        Action saveRunConfig = () =>
        {
            if (run is not null)
            {
                store.SaveRunConfig(config.ToJson());
            }
        };
        using var backend = CreateBackend(request.Device, collective);
        output.WriteLine($"device: {backend.Name}");
        if (collective.Size > 1)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ranks:  {collective.Name}: each rank {config.Batch} × {config.GradAccumulation} sequences per step, the job {collective.Size * config.Batch * config.GradAccumulation}"));
        }
        var data = TrainingRun.Data(config, collective.Rank == 0 ? outDir : null); // own text: cached in OUT/corpus
        output.WriteLine($"data:   {data.Description}");
        output.WriteLine($"output: {Path.GetFullPath(outDir)}");
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
                output.WriteLine("stopping after this step; saving a checkpoint (Ctrl+C again to abort)");
                stop.Cancel();
            }
        };
        var mode = request.Resume ? Resuming.IfSaved : Resuming.No;
        if (config.Model is not ("seq" or "fuji") || config.Stage != 0)
        {
            return TrainOne(backend, config, data, run, outDir, mode, saveRunConfig, stop.Token, collective, output);
        }
        var (stage1, stage2) = TrainingRun.Stages(config, Path.Combine(outDir, "stage1"));
        string name = config.Model.ToUpperInvariant();
        if (stage1 is null)
        {
            output.WriteLine($"{name}: the encoder is frozen ({config.Encoder}), so stage 1 is skipped: stage 2 for all {stage2.Steps} steps");
            return TrainOne(backend, stage2, data, run, outDir, mode, saveRunConfig, stop.Token, collective, output);
        }
        output.WriteLine(config.Model == "seq"
            ? $"SEQ stage 1 of 2: {stage1.Steps} steps (encoder + decoder) into {Path.Combine(outDir, "stage1")}"
            : $"FUJI stage 1 of 2: {stage1.Steps} steps (MM-DiT + encoder, token loss only) into {Path.Combine(outDir, "stage1")}");
        int rc = TrainOne(backend, stage1, data, run, Path.Combine(outDir, "stage1"), mode, saveRunConfig, stop.Token, collective, output);
        if (rc != 0)
        {
            return rc;
        }
        output.WriteLine(config.Model == "seq"
            ? $"SEQ stage 2 of 2: {stage2.Steps} steps (prior + decoder, encoder frozen) into {outDir}"
            : $"FUJI stage 2 of 2: {stage2.Steps} steps (MM-DiT, both losses, encoder frozen) into {outDir}");
        return TrainOne(backend, stage2, data, run, outDir, mode, saveRunConfig, stop.Token, collective, output);
    }

    private enum Resuming { No, IfSaved }

    private static int TrainOne(Backend backend, TrainConfig config, ITokenData data, RunDirectory? run, string outDir, Resuming resume,
        Action started, CancellationToken stop, ICollective collective, TextWriter output)
    {
        output.WriteLine($"config: {config.ToJson().ToJsonString()}");
        using var trainer = new Trainer(backend, config, data, outDir, output, collective);
        var network = trainer.Model.Network;
        long trained = trainer.Model.TrainableParameters.Sum(np => (long)np.Parameter.Shape.Elements);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model:  {trainer.Model.Kind} ({config.Preset}): {network.ParameterCount:N0} parameters, {trained:N0} trained"));
        // A snapshot: weights (all), EMA and two AdamW moments (trained ones), in float32, plus headers.
        run?.RequireSpace(4 * (network.ParameterCount + 3 * trained) + (1 << 20));
        if (resume == Resuming.IfSaved)
        {
            // Rank 0 alone reads the output directory; the others follow its decision.
            if (collective.Broadcast(collective.Rank == 0 && new CheckpointStore(outDir).Exists))
            {
                trainer.Resume();
            }
            else
            {
                output.WriteLine($"resume: no checkpoint was saved in {outDir} yet; starting at step 1");
            }
        }
        started();
        trainer.Run(stop);
        if (stop.IsCancellationRequested || trainer.Step < config.Steps)
        {
            output.WriteLine($"resume with: lddm train --out {run?.Path ?? outDir} --resume");
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
