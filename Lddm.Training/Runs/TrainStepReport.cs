using System.Diagnostics;
using System.Globalization;
using Lddm.Kernels.Cpu;
using Lddm.Kernels.Diagnostics;


namespace Lddm.Training.Runs;

/// <summary>
/// The whole CPU training step (the trainer's step: forward, backward, clipping, AdamW, EMA) of the MDLM DiT on the
/// bundled text, L = 64, batch 32 (<c>lddm train</c>'s defaults), on 1 and on 2 threads.
/// Run: <c>dotnet Lddm.Bench.dll report trainstep [presets=tiny,small] [rounds=4] [steps=12]</c>.
/// One trainer per preset and thread count is built and warmed up (<see cref="Warmup"/> steps, enough for the tiered
/// JIT to settle); then <c>rounds</c> interleaved rounds time <c>steps</c> steps on 1 thread, then on 2, so machine load
/// hits both alike. Prints the median ms per step, tokens/s, % of the FMA peak of the same thread count (the headline:
/// the median over rounds of each round's FLOP rate over a 0.1 s peak measured just before that round, because this
/// machine's second core comes and goes; also against the best peak of the run's start), the peak tensor memory of the timed steps (the backend pool's high-water mark of live buffers: weights,
/// gradients, optimizer state and the step's activations), the process CPU time per step (all threads: on a loaded machine wall time inflates but CPU time still
/// measures the work, and on 2 threads the work plus the pool's waiting) and the 2-thread over 1-thread speed-up as
/// the mean ± standard error of the per-round ratios.
/// FLOPs per step count the matrix products only: 3 × tokens × (layers·(24h² + 4·L·h) + 2·h·V) (forward + backward).
/// </summary>
public static class TrainStepReport
{
    public const int Warmup = 30;

    public static void Run(string[] args, TextWriter output)
    {
        string[] presets = args.Length > 0 ? args[0].Split(',') : ["tiny", "small"];
        int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4;
        int steps = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 12;
        int[] threadCounts = [1, 2];
        var peaks = threadCounts.ToDictionary(t => t, t => Peak(t));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"measured fp32 FMA peak: 1 thread {peaks[1]:F1} GFLOP/s, 2 threads {peaks[2]:F1} GFLOP/s; load average {LoadAverage()}"));
        foreach (string preset in presets)
        {
            var config = StepConfig(preset);
            var data = TrainingRun.Data(config);
            double flops = StepFlops(config, data);
            var backends = threadCounts.ToDictionary(t => t, t => new CpuBackend(t));
            var trainers = threadCounts.ToDictionary(t => t, t => new Stepper(backends[t], config, data));
            try
            {
                foreach (int t in threadCounts)
                {
                    trainers[t].Time(Warmup);
                    backends[t].ResetPeakMemory();
                }
                var times = threadCounts.ToDictionary(t => t, _ => new List<double>());
                var cpu = threadCounts.ToDictionary(t => t, _ => new List<double>());
                var beside = threadCounts.ToDictionary(t => t, _ => new List<double>());
                for (int r = 0; r < rounds; r++)
                {
                    foreach (int t in threadCounts)
                    {
                        // The peak again right beside this round's steps: on a shared machine whose second core comes
                        // and goes, a round is compared with what the machine gave in the same second.
                        double peak = MachinePeak.Fp32GflopsPerSecond(seconds: 0.1, threads: t);
                        double perStep = trainers[t].Time(steps);
                        times[t].Add(perStep);
                        cpu[t].Add(trainers[t].LastCpu);
                        beside[t].Add(100 * flops / perStep / 1e9 / peak);
                    }
                }
                var ratios = Enumerable.Range(0, rounds).Select(r => times[1][r] / times[2][r]).ToList();
                double mean = ratios.Average();
                double se = rounds > 1 ? Math.Sqrt(ratios.Sum(x => (x - mean) * (x - mean)) / (rounds - 1) / rounds) : double.NaN;
                foreach (int t in threadCounts)
                {
                    double perStep = Median(times[t]);
                    double peakMiB = backends[t].PoolStatistics.PeakLiveBytes / (1024.0 * 1024.0);
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"train-step {preset} L={config.Length} B={config.Batch} {t}T: {1e3 * perStep:F2} ms/step (CPU {1e3 * Median(cpu[t]):F2} ms/step, all threads), {config.Batch * config.Length / perStep:F0} tok/s = {Median(beside[t]):F1}% of the {t}-thread peak ({flops / perStep / 1e9:F1} GFLOP/s; median over rounds of the peak measured beside each round, per round {string.Join(" ", beside[t].Select(x => x.ToString("F1", CultureInfo.InvariantCulture)))}; {100 * flops / perStep / 1e9 / peaks[t]:F1}% of the run's best peak {peaks[t]:F1}), peak tensor memory {peakMiB:F1} MiB"));
                }
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"train-step {preset} speed-up 2T/1T: {mean:F3} ± {se:F3} (SE over {rounds} interleaved rounds of {steps} steps after {Warmup} warm-up steps; per round {string.Join(" ", ratios.Select(x => x.ToString("F3", CultureInfo.InvariantCulture)))})"));
                Sampling(preset, trainers, threadCounts, rounds, output);
            }
            finally
            {
                foreach (var s in trainers.Values)
                {
                    s.Dispose();
                }
                foreach (var b in backends.Values)
                {
                    b.Dispose();
                }
            }
        }
        output.WriteLine($"load average at the end {LoadAverage()}");
    }

    /// <summary>Sampling batch: <see cref="SampleCount"/> sequences of <see cref="SampleLength"/> tokens in <see cref="SampleSteps"/> steps.</summary>
    public const int SampleCount = 32, SampleLength = 64, SampleSteps = 16;

    /// <summary>
    /// Sampling with each trainer's model (paused between steps, so its weights are those of a few training steps):
    /// one warm-up call, then <paramref name="rounds"/> interleaved calls per thread count; median wall and CPU time,
    /// tokens/s = count·length / wall time, and the network evaluations (NFE) of the last call.
    /// </summary>
    private static void Sampling(string preset, Dictionary<int, Stepper> trainers, int[] threadCounts, int rounds, TextWriter output)
    {
        var times = threadCounts.ToDictionary(t => t, _ => new List<double>());
        var cpu = threadCounts.ToDictionary(t => t, _ => new List<double>());
        var nfe = threadCounts.ToDictionary(t => t, _ => 0);
        using var process = Process.GetCurrentProcess();
        for (int r = -1; r < rounds; r++)
        {
            foreach (int t in threadCounts)
            {
                process.Refresh();
                var cpu0 = process.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                nfe[t] = trainers[t].Model.Generate(SampleCount, SampleLength, SampleSteps, seed: 7 + (ulong)(r + 1)).Nfe;
                double wall = sw.Elapsed.TotalSeconds;
                process.Refresh();
                if (r >= 0)
                {
                    times[t].Add(wall);
                    cpu[t].Add((process.TotalProcessorTime - cpu0).TotalSeconds);
                }
            }
        }
        foreach (int t in threadCounts)
        {
            double wall = Median(times[t]);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"sample {preset} N={SampleSteps} L={SampleLength} B={SampleCount} {t}T: {1e3 * wall:F1} ms (CPU {1e3 * Median(cpu[t]):F1} ms, all threads), {SampleCount * SampleLength / wall:F0} tok/s, NFE {nfe[t]} (median of {rounds} after 1 warm-up)"));
        }
    }

    /// <summary>
    /// <paramref name="config"/> for timing and counting steps: one warm-up step of the learning rate, and no log line,
    /// evaluation or checkpoint inside the measured steps; validated.
    /// </summary>
    internal static TrainConfig Silent(TrainConfig config) => (config with
    {
        WarmupSteps = 1,
        LogEvery = 1_000_000,
        EvalEvery = 0,
        EvalSequences = 1,
        CheckpointEvery = 0,
    }).Validate();

    /// <summary>The timed step's configuration: <c>lddm train</c>'s defaults for <paramref name="preset"/>, silent.</summary>
    public static TrainConfig StepConfig(string preset) => Silent(new TrainConfig { Preset = preset, Steps = 1_000_000 });

    /// <summary>Matrix-product FLOPs of one step (forward + backward): 3 × tokens × (layers·(24h² + 4·L·h) + 2·h·V).</summary>
    public static double StepFlops(TrainConfig config, Lddm.Training.Data.ITokenData data)
    {
        var model = TrainingRun.ModelConfig(config, data.Vocabulary);
        return 3.0 * config.Batch * config.Length *
            (model.Layers * (24.0 * model.Hidden * model.Hidden + 4.0 * config.Length * model.Hidden) + 2.0 * model.Hidden * model.Vocab);
    }

    private static double Peak(int threads) => MachinePeak.Fp32GflopsPerSecond(threads: threads);

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : 0.5 * (s[s.Count / 2 - 1] + s[s.Count / 2]);
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    /// <summary>One trainer whose steps run on demand: <see cref="Time"/> runs n steps and returns seconds per step.</summary>
    public sealed class Stepper : IDisposable
    {
        private readonly Trainer _trainer;
        private readonly Thread _thread;
        private readonly SemaphoreSlim _go = new(0), _done = new(0);
        private int _remaining;
        private Exception? _error;

        public Stepper(CpuBackend backend, TrainConfig config, Lddm.Training.Data.ITokenData data)
        {
            _trainer = new Trainer(backend, config, data, null, TextWriter.Null);
            _trainer.StepCompleted += _ =>
            {
                if (--_remaining == 0)
                {
                    _done.Release();
                    _go.Wait();
                }
            };
            // Trainer.Run owns the loop: it runs on its own thread and pauses after each batch of steps.
            _thread = new Thread(() =>
            {
                try
                {
                    _go.Wait();
                    _trainer.Run();
                }
                catch (Exception e) when (e is not ThreadInterruptedException)
                {
                    _error = e;
                    _done.Release();
                }
                catch (ThreadInterruptedException)
                {
                }
            })
            { IsBackground = true };
            _thread.Start();
        }

        /// <summary>The trained model; use it only while the trainer is paused (between <see cref="Time"/> calls).</summary>
        public Lddm.Training.Engine.ITrainableModel Model => _trainer.Model;

        /// <summary>Process CPU seconds (all threads) per step of the last <see cref="Time"/>.</summary>
        public double LastCpu { get; private set; }

        public double Time(int steps)
        {
            _remaining = steps;
            using var process = Process.GetCurrentProcess();
            var cpu0 = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            _go.Release();
            _done.Wait();
            double wall = sw.Elapsed.TotalSeconds / steps;
            process.Refresh();
            LastCpu = (process.TotalProcessorTime - cpu0).TotalSeconds / steps;
            if (_error is { } e)
            {
                throw new InvalidOperationException("training step failed", e);
            }
            return wall;
        }

        public void Dispose()
        {
            _thread.Interrupt();
            _thread.Join();
            _trainer.Dispose();
        }
    }
}
