using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Data;
using Lddm.Training.Engine;
using Lddm.Training.Optim;
using Lddm.Training.Runs;

namespace Lddm.Bench;

/// <summary>
/// End-to-end cost of the three model kinds at the sawtooth experiment's shapes (scripts/sawtooth-experiment.sh:
/// L = 128, batch 64, time conditioning; MDLM = DiT tiny; FUJI = xxs MM-DiT + xxs encoder, latent 1×32; SEQ stage 2 =
/// xxs decoder + xxs latent prior trained, xxs encoder frozen), each built through
/// <see cref="TrainingRun.CreateModel"/> exactly as the CLI builds it.
/// <list type="bullet">
/// <item><see cref="TrainStep"/>: one sawtooth batch, <c>Loss</c> on a tape, <c>Backward</c>, an AdamW step over the
/// trained parameters and zero-grad (the trainer's step without gradient clipping and the EMA, both elementwise).</item>
/// <item><see cref="Sample"/>: <c>Generate(count: 64, length: 128, steps: 16)</c> in eval mode.</item>
/// </list>
/// Throughput: both operations handle <see cref="TokensPerOp"/> = 64·128 = 8192 tokens (TrainStep: batch·length;
/// Sample: count·length), so tokens/s = 8192 / Mean; the summary's <c>Tokens/s</c> column shows it.
/// Run: <c>dotnet run -c Release --project Lddm.Bench -- --filter '*EndToEnd*'</c>, or the Stopwatch table with
/// parameter counts and ratios to MDLM: <c>dotnet run -c Release --project Lddm.Bench -- report endtoend</c>.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class EndToEndBenchmarks
{
    public const int Batch = 64, Length = 128, SampleCount = 64, SampleSteps = 16;

    /// <summary>Tokens one operation handles: batch·length for TrainStep, count·length for Sample (both 8192).</summary>
    public const int TokensPerOp = Batch * Length;

    /// <summary>Warm-up train steps before <see cref="Report"/> times any: enough for the tiered JIT to settle.</summary>
    public const int TrainWarmup = 20;

    private Backend _backend = BenchBackends.Cpu;
    private ITrainableModel? _model;
    private AdamW? _optimizer;
    private TrainConfig _config = new();
    private SawtoothData _data = null!;
    private int[] _tokens = [];
    private long _step;
    private ulong _sampleSeed;

    [Params("mdlm", "fuji", "seq")]
    public string Kind { get; set; } = "mdlm";

    /// <summary>The sawtooth experiment's config for one model kind (SEQ at stage 2: prior + decoder trained).</summary>
    public static TrainConfig ExperimentConfig(string kind) => new TrainConfig
    {
        Model = kind,
        Data = "sawtooth",
        Preset = kind == "mdlm" ? "tiny" : "xxs",
        Length = Length,
        Batch = Batch,
        TimeConditioning = true,
        LatentPatches = 1,
        LatentDim = 32,
        EncoderPreset = "xxs",
        Stage = kind == "seq" ? 2 : 0,
    }.Validate();

    /// <summary>The model being timed (after <see cref="Setup"/>).</summary>
    public ITrainableModel Model => _model ?? throw new InvalidOperationException("Call Setup first.");

    [GlobalSetup]
    public void Setup()
    {
        _config = ExperimentConfig(Kind);
        _data = new SawtoothData(new SawtoothConfig(_config.Length, _config.SawtoothSaws, _config.SawtoothScale));
        _model = TrainingRun.CreateModel(_backend, _config, _data.Vocabulary);
        _optimizer = new AdamW(_model.TrainableParameters, new AdamWConfig(WeightDecay: _config.WeightDecay));
        _tokens = new int[_config.Batch * _config.Length];
        _step = 0;
        _sampleSeed = _config.Seed;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _optimizer?.Dispose();
        _model?.Dispose();
        _optimizer = null;
        _model = null;
    }

    /// <summary>Forward + backward + AdamW step + zero-grad on a fresh batch; returns the loss (nats per token, weighted).</summary>
    [Benchmark]
    public float TrainStep()
    {
        var model = Model;
        model.Network.Train();
        long index = _step++;
        _data.TrainBatch(_config.Seed, index, _config.Batch, _tokens);
        float loss;
        using (var tape = Tape.Begin())
        {
            var result = model.Loss(_tokens, _config.Batch, _config.Length, _config.Seed, index, new DropoutRng(_config.Seed, (ulong)index));
            result.Value.Backward();
            loss = result.Value.Item();
        }
        _optimizer!.Step(_config.LearningRate);
        model.Network.ZeroGrad();
        model.Network.Backend.Synchronize();
        return loss;
    }

    /// <summary>64 sequences of 128 tokens with 16 token steps, in eval mode, from a fresh seed each call.</summary>
    [Benchmark]
    public GeneratedSamples Sample()
    {
        var model = Model;
        model.Network.Eval();
        var samples = model.Generate(count: SampleCount, length: Length, steps: SampleSteps, seed: _sampleSeed++);
        model.Network.Backend.Synchronize();
        return samples;
    }

    /// <summary>
    /// The Stopwatch table: for each kind, the best of <paramref name="repeats"/> timed TrainStep and Sample calls
    /// after <see cref="TrainWarmup"/> warm-up train steps (the tiered JIT needs about 20 to settle) and one warm-up
    /// Sample, as tokens/s and as a ratio to MDLM, with the network's parameter count and the
    /// trained count (SEQ stage 2 leaves its encoder frozen). Sample NFE counts SEQ's latent prior calls too.
    /// </summary>
    public static void Report(Backend backend, TextWriter output, int repeats = 3)
    {
        var rows = new List<(string Kind, string Preset, long Parameters, long Trained, double Train, double Sample, int Nfe)>();
        foreach (string kind in new[] { "mdlm", "fuji", "seq" })
        {
            var bench = new EndToEndBenchmarks { Kind = kind, _backend = backend };
            bench.Setup();
            try
            {
                var model = bench.Model;
                long parameters = model.Network.ParameterCount;
                long trained = model.TrainableParameters.Sum(np => (long)np.Parameter.Shape.Elements);
                double Best(Action op, int warmup)
                {
                    for (int i = 0; i < warmup; i++)
                    {
                        op();
                    }
                    double best = double.MaxValue;
                    for (int i = 0; i < repeats; i++)
                    {
                        var sw = Stopwatch.StartNew();
                        op();
                        best = Math.Min(best, sw.Elapsed.TotalSeconds);
                    }
                    return best;
                }
                double train = Best(() => bench.TrainStep(), TrainWarmup);
                int nfe = 0;
                double sample = Best(() => nfe = bench.Sample().Nfe, 1);
                rows.Add((kind, bench._config.Preset, parameters, trained, train, sample, nfe));
            }
            finally
            {
                bench.Cleanup();
            }
        }
        var mdlm = rows[0];
        static string Line(FormattableString s) => FormattableString.Invariant(s);
        output.WriteLine(Line($"End to end on {backend.Name}, sawtooth L = {Length}: TrainStep = batch {Batch} (fwd + bwd + AdamW), Sample = {SampleCount} sequences, {SampleSteps} steps; best of {repeats} after {TrainWarmup} warm-up train steps and 1 warm-up sample"));
        output.WriteLine(Line($"{"kind",-5} {"preset",-6} {"parameters",12} {"trained",12} {"train ms",10} {"train tok/s",12} {"×MDLM",6} {"sample ms",10} {"sample tok/s",13} {"×MDLM",6} {"NFE",5}"));
        foreach (var r in rows)
        {
            output.WriteLine(Line(
                $"{r.Kind,-5} {r.Preset,-6} {r.Parameters,12:N0} {r.Trained,12:N0} {r.Train * 1e3,10:F1} {TokensPerOp / r.Train,12:N0} {mdlm.Train / r.Train,6:F2} {r.Sample * 1e3,10:F1} {TokensPerOp / r.Sample,13:N0} {mdlm.Sample / r.Sample,6:F2} {r.Nfe,5}"));
        }
        output.WriteLine("×MDLM = the kind's tokens/s over MDLM's (below 1 = slower).");
    }

    /// <summary>Adds the <see cref="TokensPerSecondColumn"/> to the default columns.</summary>
    public sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig() => AddColumn(new TokensPerSecondColumn());
    }

    /// <summary>Tokens per second: <see cref="TokensPerOp"/> over the mean time of one operation.</summary>
    public sealed class TokensPerSecondColumn : IColumn
    {
        public string Id => nameof(TokensPerSecondColumn);

        public string ColumnName => "Tokens/s";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => $"Tokens handled per second: {TokensPerOp} (batch·length for TrainStep, count·length for Sample) / Mean";

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
            summary[benchmarkCase]?.ResultStatistics is { Mean: > 0 } stats
                ? (TokensPerOp / (stats.Mean * 1e-9)).ToString("N0", CultureInfo.InvariantCulture)
                : "NA";
    }
}
