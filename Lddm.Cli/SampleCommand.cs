using System.Diagnostics;
using System.Globalization;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Optim;
using Lddm.Training.Sampling;
using Lddm.Training.Schedules;
using Lddm.Training.Training;

namespace Lddm.Cli;

/// <summary><c>lddm sample</c> and <c>lddm eval</c>: load a checkpoint's EMA weights and sample or evaluate.</summary>
internal static class SampleCommand
{
    public static int Sample(Options options)
    {
        string dir = options.Value("checkpoint") ?? throw new UsageException("sample needs --checkpoint DIR");
        int steps = options.Int("steps") ?? 128;
        int count = options.Int("count") ?? 4;
        ulong seed = (ulong)(options.Int("seed") ?? 1);
        string device = options.Value("device") ?? "auto";
        float temperature = float.Parse(options.Value("temperature") ?? "1", CultureInfo.InvariantCulture);
        options.RejectUnused();
        using var backend = Devices.Create(device);
        using var loaded = Loaded.From(backend, dir);
        PrintSamples(loaded.Model, null, TrainingRun.Schedule(loaded.Config), loaded.Data, count, [steps], seed, temperature);
        return 0;
    }

    public static int Eval(Options options)
    {
        string dir = options.Value("checkpoint") ?? throw new UsageException("eval needs --checkpoint DIR");
        int draws = options.Int("draws") ?? 4;
        int samples = options.Int("samples") ?? 256;
        string device = options.Value("device") ?? "auto";
        options.RejectUnused();
        using var backend = Devices.Create(device);
        using var loaded = Loaded.From(backend, dir);
        var c = loaded.Config;
        var evaluator = new MdlmEvaluator(TrainingRun.Objective(c));
        var nelbo = evaluator.ValidationNelbo(loaded.Model, loaded.Data.Validation(c.EvalSequences), c.Batch, c.Seed ^ 0xE7A1UL, draws);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"validation NELBO: {nelbo.NatsPerToken:F4} ± {nelbo.StandardError:F4} nats/token = {nelbo.BitsPerToken:F4} bits/token ({c.EvalSequences} sequences × {draws} draws, EMA weights)"));
        if (loaded.Data is SawtoothData saw)
        {
            var sampler = new MdlmSampler(TrainingRun.Schedule(c));
            var truth = saw.Generator.EntropyPerSequence(0x5EEDUL, 512);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"data entropy: {truth.Mean / Math.Log(2):F2} ± {truth.StandardError / Math.Log(2):F2} bits/sequence; i.i.d. Bernoulli: {saw.Generator.IidBernoulliNll() / Math.Log(2):F2}"));
            foreach (int n in new[] { 2, 4, 8, 16, 32, c.Length })
            {
                var tokens = sampler.Sample(loaded.Model, samples, c.Length, n, c.Seed + (ulong)n, 1f, c.TimeConditioning);
                var nll = Enumerable.Range(0, samples).Select(i => -saw.Generator.LogLikelihood(tokens.AsSpan(i * c.Length, c.Length)) / Math.Log(2)).ToArray();
                double mean = nll.Average(), se = Math.Sqrt(nll.Select(x => (x - mean) * (x - mean)).Sum() / (samples - 1) / samples);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"N = {n,4}: exact NLL of {samples} samples under the true model {mean:F2} ± {se:F2} bits/sequence"));
            }
        }
        return 0;
    }

    /// <summary>Prints <paramref name="count"/> samples for each step count, with the EMA weights when given.</summary>
    public static void PrintSamples(DiT model, Ema? ema, MaskingSchedule schedule, ITokenData data, int count,
        IReadOnlyList<int> steps, ulong seed, float temperature = 1f)
    {
        ema?.SwapInto();
        model.Eval();
        try
        {
            var sampler = new MdlmSampler(schedule);
            foreach (int n in steps)
            {
                var clock = Stopwatch.StartNew();
                var run = sampler.Run(model, count, data.Length, n, seed, temperature);
                double seconds = clock.Elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"samples, N = {n} steps ({run.Nfe} network calls, {count * data.Length / seconds:F0} tokens/s):"));
                for (int i = 0; i < count; i++)
                {
                    Console.WriteLine("  " + data.Decode(run.Tokens.AsSpan(i * data.Length, data.Length)));
                }
            }
        }
        finally
        {
            model.Train();
            ema?.SwapInto();
        }
    }

    /// <summary>A checkpoint's config, data and model with the EMA weights loaded as the model's weights.</summary>
    private sealed class Loaded : IDisposable
    {
        private Loaded(TrainConfig config, ITokenData data, DiT model)
        {
            Config = config;
            Data = data;
            Model = model;
        }

        public TrainConfig Config { get; }

        public ITokenData Data { get; }

        public DiT Model { get; }

        public static Loaded From(Backend backend, string dir)
        {
            var store = new CheckpointStore(dir);
            var config = TrainConfig.FromJson(store.ReadState().Config, Path.Combine(dir, "state.json")).Validate();
            var data = TrainingRun.Data(config);
            var model = TrainingRun.Model(backend, config, data.Vocabulary);
            using var ema = new Ema(model.NamedParameters(), config.EmaDecay);
            store.Load(model, null, ema, config.ToJson());
            ema.SwapInto(); // the model now holds the EMA weights
            model.Eval();
            Console.WriteLine($"checkpoint {store.Directory} (step {store.ReadState().Step}), {data.Description}");
            return new Loaded(config, data, model);
        }

        public void Dispose() => Model.Dispose();
    }
}
