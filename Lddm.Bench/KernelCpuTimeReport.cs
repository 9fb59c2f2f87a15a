using System.Diagnostics;
using System.Globalization;
using Lddm.Kernels;
using Lddm.Kernels.Cpu;

namespace Lddm.Bench;

/// <summary>
/// Process CPU time per call of a few kernels on a 1-thread CPU backend, for before/after comparisons on a machine
/// too loaded for wall-clock timing (CPU time counts only the time the kernel actually ran; cache pollution by
/// other processes still adds noise). Each kernel: 3 warm-up calls, then 5 batches of calls of about 0.2 s CPU each;
/// prints the median µs per call. Run: <c>dotnet Lddm.Bench.dll report kernelcpu</c>.
/// </summary>
public static class KernelCpuTimeReport
{
    public static void Run(TextWriter output)
    {
        using var be = new CpuBackend(1);
        var rng = new Random(1);
        DeviceBuffer<float> Rand(int n) => be.Upload<float>(Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray());
        using var x = Rand(1024 * 1024);
        using var bias = Rand(1024);
        using var y = Rand(1024 * 1024);
        using var dy = Rand(1024 * 1024);
        using var dx = Rand(1024 * 1024);
        using var db = Rand(1024);
        using var x128 = Rand(2048 * 128);
        using var w128 = Rand(128 * 128);
        using var w384 = Rand(384 * 128);
        using var y128 = Rand(2048 * 128);
        using var y384 = Rand(2048 * 384);
        using var dw = Rand(128 * 384);
        using var big = Rand(1024 * 1024);
        using var big2 = Rand(1024 * 1024);
        using var big3 = Rand(1024 * 1024);
        var rows = new (string Name, Action Op)[]
        {
            ("bias+gelu fwd 1024x1024", () => be.BiasActivationForward(x, bias, 1024, 1024, Activation.GeluTanh, y)),
            ("bias+gelu bwd 1024x1024", () => be.BiasActivationBackward(x, bias, dy, 1024, 1024, Activation.GeluTanh, dx, db)),
            ("bias+silu fwd 1024x1024", () => be.BiasActivationForward(x, bias, 1024, 1024, Activation.Silu, y)),
            ("matmul 1024x1024x1024", () => be.Matmul(big, big2, big3, 1, 1024, 1024, 1024)),
            ("matmul X·Wᵀ 2048x128x128", () => be.Matmul(x128, w128, y128, 1, 2048, 128, 128, transposeB: true)),
            ("matmul X·Wᵀ 2048x384x128", () => be.Matmul(x128, w384, y384, 1, 2048, 384, 128, transposeB: true)),
            ("matmul Xᵀ·dY 128x384x2048 β=1", () => be.Matmul(x128, y384, dw, 1, 128, 384, 2048, transposeA: true, beta: 1f)),
        };
        using var process = Process.GetCurrentProcess();
        foreach (var (name, op) in rows)
        {
            for (int i = 0; i < 3; i++)
            {
                op();
            }
            process.Refresh();
            var t0 = process.TotalProcessorTime;
            op();
            process.Refresh();
            double once = Math.Max(1e-6, (process.TotalProcessorTime - t0).TotalSeconds);
            int calls = Math.Max(1, (int)(0.2 / once));
            var perCall = new List<double>();
            for (int batch = 0; batch < 5; batch++)
            {
                process.Refresh();
                var start = process.TotalProcessorTime;
                for (int i = 0; i < calls; i++)
                {
                    op();
                }
                process.Refresh();
                perCall.Add((process.TotalProcessorTime - start).TotalSeconds / calls);
            }
            perCall.Sort();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-32} {1e6 * perCall[2],10:F1} µs CPU per call (median of 5 × {calls} calls; min {1e6 * perCall[0]:F1}, max {1e6 * perCall[4]:F1})"));
        }
    }
}
