using System.Diagnostics;
using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Diagnostics;

namespace Lddm.Bench;

/// <summary>
/// Fused attention (<see cref="AttentionOp"/>) against the composed matmul + softmax path
/// (<see cref="ComposedAttention"/>) through the autograd layer, forward and forward+backward, at T = 128…1024:
/// best time, GFLOP/s, % of the FMA peak measured in the same run, and peak device memory of the step.
/// Run: <c>dotnet run -c Release --project Lddm.Bench -- report attention</c>.
/// </summary>
public static class AttentionReport
{
    public static void Run(Backend backend, TextWriter output)
    {
        double peak = MachinePeak.Fp32GflopsPerSecond();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"device {backend.Name}; measured fp32 FMA peak {peak:F1} GFLOP/s; B=2, heads=8, D=64"));
        output.WriteLine("| T | path | fwd ms | fwd % peak | fwd+bwd ms | fwd+bwd % peak | peak memory MiB |");
        output.WriteLine("|---|---|---|---|---|---|---|");
        foreach (int t in new[] { 128, 256, 512, 1024 })
        {
            foreach (bool fused in new[] { true, false })
            {
                var (fwd, both, memory) = Measure(backend, t, fused);
                double flops = 4.0 * 2 * 8 * t * t * 64;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {t} | {(fused ? "fused" : "composed")} | {fwd * 1e3:F2} | {100 * flops / fwd / 1e9 / peak:F1} | {both * 1e3:F2} | {100 * 3.5 * flops / both / 1e9 / peak:F1} | {memory / 1048576.0:F1} |"));
            }
        }
    }

    private static (double Forward, double ForwardBackward, long PeakBytes) Measure(Backend backend, int t, bool fused)
    {
        var rng = new Random(t);
        float[] Data() => Enumerable.Range(0, 2 * 8 * t * 64).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var (q0, k0, v0, g) = (Data(), Data(), Data(), Data());
        Tensor Attend(Tensor q, Tensor k, Tensor v) => fused ? AttentionOp.Apply(q, k, v) : ComposedAttention.Apply(q, k, v);
        double Best(bool backward)
        {
            double best = double.MaxValue;
            for (int i = 0; i < 4; i++)
            {
                using var tape = Tape.Begin();
                var q = Tensor.FromArray(backend, q0, 2, 8, t, 64);
                var k = Tensor.FromArray(backend, k0, 2, 8, t, 64);
                var v = Tensor.FromArray(backend, v0, 2, 8, t, 64);
                q.RequiresGrad = k.RequiresGrad = v.RequiresGrad = backward;
                var sw = Stopwatch.StartNew();
                var o = Attend(q, k, v);
                if (backward)
                {
                    o.Backward(g);
                }
                backend.Synchronize();
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
                q.ClearGrad();
                k.ClearGrad();
                v.ClearGrad();
            }
            return best;
        }
        double forward = Best(false);
        backend.TrimPool();
        backend.ResetPeakMemory();
        long before = backend.PoolStatistics.LiveBytes;
        double both = Best(true);
        return (forward, both, backend.PoolStatistics.PeakLiveBytes - before);
    }
}
