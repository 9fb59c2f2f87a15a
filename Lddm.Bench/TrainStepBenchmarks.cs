using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Lddm.Kernels.Cpu;
using Lddm.Kernels.Diagnostics;
using Lddm.Training.Runs;

namespace Lddm.Bench;

/// <summary>
/// The whole CPU training step of <c>lddm train</c> (MDLM DiT on the bundled text, L = 64, batch 32: forward, backward,
/// clipping, AdamW, EMA) per preset and thread count, as BenchmarkDotNet measures it — the same trainer and step as
/// <c>report trainstep</c> and <c>lddm bench</c>'s <c>train-step</c> lines. Each case warms its trainer up for
/// <see cref="TrainStepReport.Warmup"/> steps in the global setup (the tiered JIT needs ~20 to settle), then one
/// operation is one step (3 warm-up and 10 measured iterations of 4 steps). Extra columns: tokens/s and the step's
/// matrix FLOPs over the mean time as a % of the FMA peak of the same thread count (measured once in the host process);
/// the peak tensor memory of the measured steps is printed to the case's log ("// peak tensor memory").
/// Run: <c>dotnet run -c Release --project Lddm.Bench -- --filter '*TrainStepBenchmarks*'</c>.
/// </summary>
[Config(typeof(StepConfig))]
[WarmupCount(3)]
[IterationCount(10)]
[InvocationCount(4, 1)]
public class TrainStepBenchmarks
{
    private static readonly Dictionary<int, double> s_peaks = [];

    private CpuBackend? _backend;
    private TrainStepReport.Stepper? _stepper;

    [Params("tiny", "small", "base")]
    public string Preset { get; set; } = "small";

    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    [GlobalSetup]
    public void Setup()
    {
        var config = TrainStepReport.StepConfig(Preset);
        _backend = new CpuBackend(Threads);
        _stepper = new TrainStepReport.Stepper(_backend, config, TrainingRun.Data(config));
        _stepper.Time(TrainStepReport.Warmup);
        _backend.ResetPeakMemory();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_backend is not null)
        {
            // Each case runs in its own process, so the high-water mark goes to the log (the summary is the host's).
            double mib = _backend.PoolStatistics.PeakLiveBytes / (1024.0 * 1024.0);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"// peak tensor memory {Preset} {Threads}T: {mib:F1} MiB"));
        }
        _stepper?.Dispose();
        _backend?.Dispose();
        _stepper = null;
        _backend = null;
    }

    /// <summary>One training step.</summary>
    [Benchmark]
    public double Step() => _stepper!.Time(1);

    /// <summary>Matrix FLOPs of one step of the preset.</summary>
    public static double Flops(string preset)
    {
        var config = TrainStepReport.StepConfig(preset);
        return TrainStepReport.StepFlops(config, TrainingRun.Data(config));
    }

    private static double Peak(int threads)
    {
        lock (s_peaks)
        {
            if (!s_peaks.TryGetValue(threads, out double peak))
            {
                s_peaks[threads] = peak = MachinePeak.Fp32GflopsPerSecond(threads: threads);
            }
            return peak;
        }
    }

    /// <summary>Adds the tokens/s and % of peak columns.</summary>
    public sealed class StepConfig : ManualConfig
    {
        public StepConfig()
        {
            AddColumn(new StepColumn("Tokens/s", "Tokens per second: batch·length (2,048) / Mean", (preset, threads, seconds) =>
                (TrainStepReport.StepConfig(preset) is var c ? c.Batch * c.Length / seconds : 0).ToString("N0", CultureInfo.InvariantCulture)));
            AddColumn(new StepColumn("% of peak", "The step's matrix FLOPs / Mean as a % of the fp32 FMA peak of the same thread count, measured in the host process",
                (preset, threads, seconds) => (100 * Flops(preset) / seconds / 1e9 / Peak(threads)).ToString("F1", CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>A column computed from the case's preset, thread count and mean seconds per step.</summary>
    private sealed class StepColumn(string name, string legend, Func<string, int, double, string> value) : IColumn
    {
        public string Id => nameof(StepColumn) + name;

        public string ColumnName => name;

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => legend;

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            if (summary[benchmarkCase]?.ResultStatistics is not { Mean: > 0 } stats)
            {
                return "NA";
            }
            string preset = (string)benchmarkCase.Parameters["Preset"];
            int threads = (int)benchmarkCase.Parameters["Threads"];
            return value(preset, threads, stats.Mean * 1e-9);
        }
    }
}
