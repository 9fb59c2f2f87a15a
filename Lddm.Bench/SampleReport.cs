using System.Diagnostics;
using System.Globalization;
using Lddm.Kernels.Cpu;
using Lddm.Training.Runs;

namespace Lddm.Bench;

/// <summary>
/// Sampling alone, for profiling (e.g. under <c>perf record</c> with <c>DOTNET_PerfMapEnabled=1</c>): an untrained
/// model of the preset (MDLM on the bundled text), <see cref="TrainStepReport.SampleCount"/> ×
/// <see cref="TrainStepReport.SampleLength"/> tokens in <see cref="TrainStepReport.SampleSteps"/> steps, on a
/// <c>threads</c>-thread CPU backend; prints wall and process CPU time per call.
/// Run: <c>dotnet Lddm.Bench.dll report sample [preset=small] [calls=5] [threads=1]</c>.
/// </summary>
public static class SampleReport
{
    public static void Run(string[] args, TextWriter output)
    {
        string preset = args.Length > 0 ? args[0] : "small";
        int calls = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
        int threads = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1;
        var config = new TrainConfig { Preset = preset }.Validate();
        var data = TrainingRun.Data(config);
        using var backend = new CpuBackend(threads);
        using var model = TrainingRun.CreateModel(backend, config, data.Vocabulary);
        using var process = Process.GetCurrentProcess();
        for (int c = 0; c <= calls; c++)
        {
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            int nfe = model.Generate(TrainStepReport.SampleCount, TrainStepReport.SampleLength, TrainStepReport.SampleSteps, (ulong)c).Nfe;
            double wall = sw.Elapsed.TotalSeconds;
            process.Refresh();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"sample {preset} {threads}T call {c}{(c == 0 ? " (warm-up)" : "")}: {1e3 * wall:F1} ms, CPU {1e3 * (process.TotalProcessorTime - cpu0).TotalMilliseconds / 1e3:F1} ms, NFE {nfe}, vocabulary {data.Vocabulary}"));
        }
    }
}
