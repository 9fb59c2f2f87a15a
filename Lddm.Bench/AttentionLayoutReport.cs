using System.Diagnostics;
using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Cpu;

namespace Lddm.Bench;

/// <summary>
/// The attention of one DiT block, from the QKV projection's output (B, T, 3h) to the merged o (B, T, h), forward
/// and backward, on a 1-thread CPU backend: the fused-QKV path (<see cref="QkvAttentionOp"/>: heads read in place,
/// RoPE inside) against the composition it replaced (reshape → transpose copy → 3 slices → 2 RoPE → attention →
/// transpose copy → reshape). Process CPU time per forward + backward, interleaved batches of ~0.1 s, so it holds on
/// a loaded machine. Run: <c>dotnet Lddm.Bench.dll report attnlayout [B=32] [T=64] [h=128] [heads=4]</c>.
/// </summary>
public static class AttentionLayoutReport
{
    public static void Run(string[] args, TextWriter output)
    {
        int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
        int b = Arg(0, 32), t = Arg(1, 64), h = Arg(2, 128), heads = Arg(3, 4), d = h / heads;
        using var backend = new CpuBackend(1);
        var rng = new Random(3);
        var values = Enumerable.Range(0, b * t * 3 * h).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var upstream = Enumerable.Range(0, b * t * h).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        void Step(Func<Tensor, Tensor> path)
        {
            using var tape = Tape.Begin();
            var x = Tensor.FromArray(backend, values, b, t, 3 * h);
            x.RequiresGrad = true;
            path(x).Backward(upstream);
            x.ClearGrad();
        }
        Tensor Fused(Tensor x) => QkvAttentionOp.Apply(x, heads, 10_000f);
        Tensor Composed(Tensor x)
        {
            var split = TransposeOp.Apply(ReshapeOp.Apply(x, b, t, 3 * heads, d), 1, 2);
            var q = RopeOp.Apply(SliceOp.Apply(split, 1, 0, heads), 10_000f);
            var k = RopeOp.Apply(SliceOp.Apply(split, 1, heads, heads), 10_000f);
            var v = SliceOp.Apply(split, 1, 2 * heads, heads);
            return ReshapeOp.Apply(TransposeOp.Apply(AttentionOp.Apply(q, k, v), 1, 2), b, t, h);
        }
        var paths = new (string Name, Action Run)[] { ("composed (copies)", () => Step(Composed)), ("fused QKV", () => Step(Fused)) };
        using var process = Process.GetCurrentProcess();
        double Cpu()
        {
            process.Refresh();
            return process.TotalProcessorTime.TotalSeconds;
        }
        var calls = new int[paths.Length];
        for (int p = 0; p < paths.Length; p++)
        {
            for (int i = 0; i < 5; i++)
            {
                paths[p].Run();
            }
            double t0 = Cpu();
            paths[p].Run();
            calls[p] = Math.Max(1, (int)(0.1 / Math.Max(1e-6, Cpu() - t0)));
        }
        var perCall = paths.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < 7; round++)
        {
            for (int p = 0; p < paths.Length; p++)
            {
                double t0 = Cpu();
                for (int i = 0; i < calls[p]; i++)
                {
                    paths[p].Run();
                }
                perCall[p].Add((Cpu() - t0) / calls[p]);
            }
        }
        output.WriteLine($"attention of one block, (B, T, h, heads) = ({b}, {t}, {h}, {heads}), forward + backward, 1 thread, process CPU time; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        for (int p = 0; p < paths.Length; p++)
        {
            var s = perCall[p].Order().ToList();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{paths[p].Name,-20} {1e6 * s[3],9:F0} µs CPU (median of 7 interleaved batches × {calls[p]}; min {1e6 * s[0]:F0}, max {1e6 * s[6]:F0})"));
        }
    }
}
