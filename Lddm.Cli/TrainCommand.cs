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
/// <c>lddm train</c>: resolve the config, print it, train with progress (<see cref="LddmTraining"/>, which also runs
/// the two stages of SEQ or FUJI with stage 0), checkpoint, then show parameter counts and samples.
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
        // The library trains (both stages of a two-stage SEQ/FUJI run too) and reports; the CLI prints its reports.
        var result = LddmTraining.Train(backend, config, data, outDir, new LddmTrainingOptions
        {
            Progress = new SynchronousProgress<TrainingProgress>(p => output.WriteLine(p.Event == TrainingEvent.Warning ? $"warning: {p.Message}" : p.Message)),
            Resume = request.Resume,
            Collective = collective,
            RunDirectory = run,
            Started = _ => saveRunConfig(),
            Finished = trainer =>
            {
                PrintParameterCounts(trainer.Model);
                SampleCommand.PrintSamples(trainer.Model, trainer.Ema, data, count: 4, steps: [16, trainer.Config.Length], trainer.Config.Seed);
            },
        }, stop.Token);
        if (!result.Completed)
        {
            output.WriteLine($"resume with: lddm train --out {run?.Path ?? outDir} --resume");
            return 130;
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
