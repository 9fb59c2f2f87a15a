using System.Diagnostics;
using System.Globalization;
using Lddm.Kernels.Cpu;
using Lddm.Training.Distributed;
using Lddm.Training.Engine;
using Lddm.Training.Runs;

namespace Lddm.Bench;

/// <summary>
/// Data-parallel throughput on this machine and the all-reduce arithmetic for a real cluster.
/// Run one process: <c>dotnet Lddm.Bench.dll report distributed [steps] [preset] [batch]</c>; K ranks:
/// <c>mpirun --oversubscribe -np K dotnet Lddm.Bench.dll report distributed …</c>. Each rank trains the same MDLM on
/// the bundled text with batch B per rank (the job's batch is K·B) on cores / local-ranks CPU threads (as
/// <c>lddm train</c> does), timing steps 4.. by wall clock. Prints (rank 0) the job's tokens/s, the share of the step
/// spent in the gradient all-reduce (including waiting for the slower rank), the pure all-reduce time of the same
/// flat buffer after a barrier, and the ring all-reduce estimate for the small and base presets at 25 and 200 GB/s.
/// </summary>
public static class DistributedReport
{
    private const int Warmup = 3;

    public static void Run(string[] args, TextWriter output)
    {
        int steps = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20;
        string preset = args.Length > 1 ? args[1] : "tiny";
        int batch = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16;
        using var collective = Collectives.FromEnvironment();
        var log = collective.Rank == 0 ? output : TextWriter.Null;
        int threads = Math.Max(1, Environment.ProcessorCount / Collectives.LocalRanks());
        using var backend = new CpuBackend(threads);
        var config = new TrainConfig
        {
            Preset = preset,
            Length = 64,
            Batch = batch,
            Steps = Warmup + steps,
            WarmupSteps = 1,
            LogEvery = 1_000_000,
            EvalEvery = 0,
            EvalSequences = 1,
            CheckpointEvery = 0,
        };
        var data = TrainingRun.Data(config);
        using var trainer = new Trainer(backend, config, data, null, TextWriter.Null, collective);
        var clock = new Stopwatch();
        double reduceAtStart = 0, copyAtStart = 0;
        trainer.StepCompleted += step =>
        {
            if (step == Warmup)
            {
                clock.Start();
                reduceAtStart = trainer.AllReduce?.CollectiveSeconds ?? 0;
                copyAtStart = trainer.AllReduce?.CopySeconds ?? 0;
            }
            else if (step == Warmup + steps - 1)
            {
                clock.Stop(); // before the last step's evaluation
            }
        };
        trainer.Run();
        int timed = steps - 1;
        double seconds = clock.Elapsed.TotalSeconds, perStep = seconds / timed;
        double reduce = ((trainer.AllReduce?.CollectiveSeconds ?? 0) - reduceAtStart) / timed;
        double copy = ((trainer.AllReduce?.CopySeconds ?? 0) - copyAtStart) / timed;
        long tokensPerStep = (long)collective.Size * batch * config.Length;
        long parameters = trainer.Model.TrainableParameters.Sum(np => (long)np.Parameter.Shape.Elements);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"K = {collective.Size} ({collective.Name}), {threads} threads per rank, {preset} ({parameters:N0} parameters), batch {batch} per rank × length {config.Length}"));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  step {1000 * perStep:F1} ms over {timed} steps; job {tokensPerStep / perStep:F0} tokens/s; gradient all-reduce {1000 * reduce:F2} ms = {100 * reduce / perStep:F1}% of the step (incl. waiting for the slower rank), pack/unpack {1000 * copy:F2} ms = {100 * copy / perStep:F1}%"));
        if (collective.Size > 1)
        {
            // The same flat buffer, after a barrier so the slower rank's compute is not counted: transfer and sum only.
            var flat = new float[trainer.AllReduce!.Elements];
            var times = new List<double>();
            for (int i = 0; i < 12; i++)
            {
                collective.Barrier();
                long t0 = Stopwatch.GetTimestamp();
                collective.AllReduceSum(flat);
                times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            var sorted = times.Skip(2).Order().ToList();
            double median = sorted[sorted.Count / 2];
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  pure all-reduce of {flat.Length:N0} floats ({flat.Length * 4.0 / (1 << 20):F2} MiB) after a barrier: median {median:F2} ms (min {sorted[0]:F2}, max {sorted[^1]:F2}, 10 calls) = {100 * median / 1000 / perStep:F1}% of the step"));
        }
        if (collective.Rank == 0)
        {
            ClusterArithmetic(data.Vocabulary, config.Length, log);
        }
    }

    /// <summary>Gradient bytes per step of the small and base presets and the ring all-reduce time at 25 and 200 GB/s.</summary>
    private static void ClusterArithmetic(int vocabulary, int length, TextWriter log)
    {
        log.WriteLine("ring all-reduce: each rank sends and receives 2(K−1)/K × the gradient bytes; time ≈ that / link bandwidth (latency ignored)");
        log.WriteLine("| preset | trained parameters | fp32 gradient bytes | K | bytes on the wire per rank | at 25 GB/s | at 200 GB/s |");
        log.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        using var backend = new CpuBackend(1);
        foreach (string preset in new[] { "small", "base" })
        {
            using var model = TrainingRun.CreateModel(backend, new TrainConfig { Preset = preset, Length = length }, vocabulary);
            long parameters = model.TrainableParameters.Sum(np => (long)np.Parameter.Shape.Elements);
            double bytes = 4.0 * parameters;
            foreach (int k in new[] { 2, 8, 64 })
            {
                double wire = 2.0 * (k - 1) / k * bytes;
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {preset} | {parameters:N0} | {bytes / 1e6:F2} MB | {k} | {wire / 1e6:F2} MB | {1e3 * wire / 25e9:F3} ms | {1e3 * wire / 200e9:F4} ms |"));
            }
        }
    }
}
