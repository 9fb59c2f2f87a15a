using System.Diagnostics;
using System.Globalization;
using Lddm.Kernels;
using Lddm.Training.Data;
using Lddm.Training.Engine;
using Lddm.Training.Evaluation;
using Lddm.Training.Optim;
using Lddm.Training.Runs;

namespace Lddm.Cli;

/// <summary><c>lddm sample</c> and <c>lddm eval</c>: load a checkpoint's EMA weights and sample or evaluate.</summary>
internal static class SampleCommand
{
    public static int Sample(Options options)
    {
        string dir = options.Value("checkpoint") ?? throw new UsageException("sample needs --checkpoint DIR");
        int steps = options.Int("steps") ?? 128;
        int count = options.Int("count") ?? 4;
        ulong seed = options.ULong("seed") ?? 1;
        string device = options.Value("device") ?? "auto";
        string t = options.Value("temperature") ?? "1";
        float temperature = float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out float parsed) && float.IsFinite(parsed)
            ? parsed : throw new UsageException($"--temperature expects a finite number but got '{t}'");
        var sampler = SamplerChoice.Parse(options, 1);
        var conditional = ConditionalOptions.Parse(options);
        options.RejectUnused();
        using var backend = Devices.Create(device);
        using var loaded = CheckpointLoading.Load(backend, dir);
        sampler.Apply(loaded.Model, 0, dir);
        if (conditional is null)
        {
            PrintSamples(loaded.Model, null, loaded.Data, count, [steps], seed, temperature);
        }
        else
        {
            conditional.Print(loaded, count, steps, seed, temperature);
        }
        return 0;
    }

    public static int Eval(Options options)
    {
        string dir = options.Value("checkpoint") ?? throw new UsageException("eval needs --checkpoint DIR");
        int draws = options.Int("draws") ?? 4;
        int count = options.Int("count") ?? options.Int("samples") ?? 512;
        int batch = options.Int("batch") ?? 256;
        string? stepList = options.Value("steps");
        ulong seed = options.ULong("seed") ?? 1;
        string device = options.Value("device") ?? "auto";
        var sampler = SamplerChoice.Parse(options, 1);
        options.RejectUnused();
        using var backend = Devices.Create(device);
        using var loaded = CheckpointLoading.Load(backend, dir);
        string suffix = sampler.Apply(loaded.Model, 0, dir);
        var c = loaded.Config;
        var nelbo = NelboEvaluator.ValidationNelbo(loaded.Model, loaded.Data.Validation(c.EvalSequences), c.Batch, c.Seed ^ 0xE7A1UL, draws);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"validation NELBO: {nelbo.NatsPerToken:F4} ± {nelbo.StandardError:F4} nats/token = {nelbo.BitsPerToken:F4} bits/token ({c.EvalSequences} sequences × {draws} draws, EMA weights)"));
        if (nelbo.DescribeTerms() is { Length: > 0 } terms)
        {
            Console.WriteLine($"  terms (nats/token): {terms}");
        }
        if (nelbo.DescribeStatistics() is { Length: > 0 } statistics)
        {
            Console.WriteLine($"  code usage (mean over validation batches): {statistics}");
        }
        if (loaded.Data is SawtoothData saw)
        {
            var steps = stepList is null ? [2, 4, 8, 16, 32, c.Length] : SweepCommand.ParseSteps(stepList);
            var evaluation = new SawtoothEvaluation(saw, count, seed);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"i.i.d. Bernoulli NLL: {saw.Generator.IidBernoulliNll() / Math.Log(2):F2} bits/sequence"));
            SweepCommand.PrintReference(evaluation);
            PrintLatentDiagnostics(backend, loaded.Model, saw, count, seed);
            foreach (int n in steps)
            {
                SweepCommand.EvaluateSawtooth(evaluation, loaded.Model, loaded.Model.Kind + suffix, n, batch);
                if (loaded.Model is Lddm.Training.Seq.SeqModel { Stage: 2, Encoder: not null } seq)
                {
                    PrintPriorDiagnostics(seq, saw, evaluation, n, batch, seed);
                }
            }
        }
        return 0;
    }

    /// <summary>For FUJI/SEQ: what the encoder's latent carries about the true shift (the "latent collapse?" check).</summary>
    private static void PrintLatentDiagnostics(Backend backend, ITrainableModel model, SawtoothData data, int count, ulong seed)
    {
        var encoder = TrainingRun.LatentEncoder(model);
        if (encoder is null)
        {
            return;
        }
        var r = LatentDiagnostics.Sawtooth(encoder, backend, data.Generator, Math.Max(count, 64), seed ^ 0x1A7EUL);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"latent y0 ({encoder.Patches}×{encoder.PatchDim}, {r.Sequences} sequences): mean patch norm {r.MeanPatchNorm:G4}, std across sequences {r.BetweenSequenceStd:G4}, linear-probe R² of the true shift {r.ShiftR2:F3} (held out)"));
    }

    /// <summary>SEQ: does the prior cover the encoder's latents, and does the decoder alone (on real latents) cover the data?</summary>
    private static void PrintPriorDiagnostics(Lddm.Training.Seq.SeqModel model, SawtoothData data, SawtoothEvaluation evaluation, int steps, int batch, ulong seed)
    {
        var r = SeqPriorDiagnostics.Sawtooth(model, data, evaluation, steps, batch, seed);
        double Get(string metric) => r.Oracle.Single(x => x.Metric == metric).Mean;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  prior ŷ₀ → nearest real latent: phase χ² {r.PriorPhase.ChiSquare:F1}/{r.PriorPhase.Dof} dof (p {r.PriorPhase.ChiSquareP:G3}), distance {r.PriorDistance:G3} vs held-out real {r.RealDistance:G3}; decoder on real latents: NLL {Get(SawtoothEvaluation.Nll):F2} (SD {Get(SawtoothEvaluation.NllSd):F2}), phase χ² p {Get(SawtoothEvaluation.ShiftChiSquareP):G3}"));
    }

    /// <summary>From this many samples on, <see cref="PrintSamples"/> reports its progress.</summary>
    private const int LargeCount = 256;

    /// <summary>"sampling: step k/N" on stderr, about every tenth of the chain (synchronous, unlike Progress&lt;T&gt;).</summary>
    private sealed class StepProgress(int steps, int count) : IProgress<int>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private int _last;

        public void Report(int value)
        {
            if (value == steps || value - _last >= Math.Max(1, steps / 10))
            {
                _last = value;
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"sampling {count} sequences: step {value}/{steps} ({_clock.Elapsed.TotalSeconds:F1} s)"));
            }
        }
    }

    /// <summary>Prints <paramref name="count"/> samples for each step count, with the EMA weights when given.</summary>
    public static void PrintSamples(ITrainableModel model, Ema? ema, ITokenData data, int count,
        IReadOnlyList<int> steps, ulong seed, float temperature = 1f)
    {
        ema?.SwapInto();
        model.Network.Eval();
        try
        {
            foreach (int n in steps)
            {
                var clock = Stopwatch.StartNew();
                // Large requests say where they are (on stderr, so the samples on stdout stay clean).
                var progress = count >= LargeCount ? new StepProgress(n, count) : null;
                var run = model.Generate(count, data.Length, n, seed, temperature, progress);
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
            model.Network.Train();
            ema?.SwapInto();
        }
    }
}
