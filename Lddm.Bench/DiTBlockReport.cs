using System.Diagnostics;
using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Diagnostics;
using Lddm.Models;

namespace Lddm.Bench;

/// <summary>
/// One adaLN-zero DiT block, forward and forward+backward, at B = 8, T = 128, h = 256 (4 heads): best time and
/// % of the FMA peak measured in the same run. FLOPs: 2·(3h² + h² + 2·4h²)·B·T for the projections and MLP plus
/// 4·B·T²·h for attention forward; backward counted as twice the forward.
/// Run: <c>dotnet run -c Release --project Lddm.Bench -- report ditblock</c>.
/// </summary>
public static class DiTBlockReport
{
    public static void Run(Backend backend, TextWriter output)
    {
        const int b = 8, t = 128, h = 256;
        using var block = new DiTBlock(backend, new DiTBlockConfig(h, 4, 128));
        block.Initialize(1);
        var rng = new Random(1);
        float[] Random(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var (x0, c0, g) = (Random(b * t * h), Random(b * 128), Random(b * t * h));
        double flops = 2.0 * (3 + 1 + 8) * h * h * b * t + 4.0 * b * t * t * h;
        double peak = MachinePeak.Fp32GflopsPerSecond();
        double Best(bool backward)
        {
            double best = double.MaxValue;
            for (int i = 0; i < 8; i++)
            {
                using var tape = Tape.Begin();
                var x = Tensor.FromArray(backend, x0, b, t, h);
                var c = Tensor.FromArray(backend, c0, b, 128);
                x.RequiresGrad = backward;
                var sw = Stopwatch.StartNew();
                var y = block.Forward(x, c);
                if (backward)
                {
                    y.Backward(g);
                }
                backend.Synchronize();
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
                block.ZeroGrad();
            }
            return best;
        }
        double fwd = Best(false), both = Best(true);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"DiTBlock B={b} T={t} h={h} on {backend.Name}: forward {fwd * 1e3:F1} ms ({flops / fwd / 1e9:F0} GFLOP/s, {100 * flops / fwd / 1e9 / peak:F0}% of peak), " +
            $"forward+backward {both * 1e3:F1} ms ({3 * flops / both / 1e9:F0} GFLOP/s, {100 * 3 * flops / both / 1e9 / peak:F0}% of peak {peak:F0} GFLOP/s)"));
    }
}
