using System.Diagnostics;
using System.Globalization;
using Lddm.Kernels;
using Lddm.Kernels.Cpu;

namespace Lddm.Bench;

/// <summary>
/// Process CPU time per call of a few kernels on a 1-thread CPU backend, for before/after comparisons on a machine
/// too loaded for wall-clock timing (CPU time counts only the time the kernel actually ran; cache pollution by
/// other processes still adds noise). Each kernel: 3 warm-up calls, then 5 batches of calls of about 0.2 s CPU each;
/// prints the median µs per call. Run: <c>dotnet Lddm.Bench.dll report kernelcpu [name filter]</c>.
/// </summary>
public static class KernelCpuTimeReport
{
    public static void Run(TextWriter output, string? filter = null)
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
        var rows = new List<(string Name, Action Op, double Flops)>
        {
            ("bias+gelu fwd 1024x1024", () => be.BiasActivationForward(x, bias, 1024, 1024, Activation.GeluTanh, y), 0),
            ("bias+gelu bwd 1024x1024", () => be.BiasActivationBackward(x, bias, dy, 1024, 1024, Activation.GeluTanh, dx, db), 0),
            ("bias+silu fwd 1024x1024", () => be.BiasActivationForward(x, bias, 1024, 1024, Activation.Silu, y), 0),
            ("matmul 1024x1024x1024", () => be.Matmul(big, big2, big3, 1, 1024, 1024, 1024), 2.0 * 1024 * 1024 * 1024),
            ("matmul X·Wᵀ 2048x128x128", () => be.Matmul(x128, w128, y128, 1, 2048, 128, 128, transposeB: true), 2.0 * 2048 * 128 * 128),
            ("matmul X·Wᵀ 2048x384x128", () => be.Matmul(x128, w384, y384, 1, 2048, 384, 128, transposeB: true), 2.0 * 2048 * 384 * 128),
            ("matmul Xᵀ·dY 128x384x2048 β=1", () => be.Matmul(x128, y384, dw, 1, 128, 384, 2048, transposeA: true, beta: 1f),
                2.0 * 128 * 384 * 2048),
        };
        // The small preset's GEMMs per block (B·T = 2048 rows, h = 128, MLP 512): forward x·W, backward ∂x = ∂y·Wᵀ and
        // ∂W = xᵀ·∂y, for the QKV (128 → 384), output (128 → 128), MLP up (128 → 512) and down (512 → 128) layers.
        var extra = new List<DeviceBuffer<float>>();
        DeviceBuffer<float> Keep(DeviceBuffer<float> b)
        {
            extra.Add(b);
            return b;
        }
        foreach (var (layer, k, n) in new[] { ("qkv", 128, 384), ("out", 128, 128), ("up", 128, 512), ("down", 512, 128) })
        {
            var xs = Keep(Rand(2048 * k));
            var ws = Keep(Rand(k * n));
            var ys = Keep(Rand(2048 * n));
            var gx = Keep(Rand(2048 * k));
            var gw = Keep(Rand(k * n));
            double f = 2.0 * 2048 * k * n;
            rows.Add(($"step {layer} fwd x·W {2048}x{n}x{k}", () => be.Matmul(xs, ws, ys, 1, 2048, n, k), f));
            if (layer == "up")
            {
                var pre = Keep(Rand(2048 * n));
                var bn = Keep(Rand(n));
                rows.Add(($"step {layer} fwd GELU(x·W + b)", () => be.LinearForward(xs, ws, bn, 2048, k, n, Activation.GeluTanh, pre, ys), f));
            }
            rows.Add(($"step {layer} ∂x = ∂y·Wᵀ", () => be.Matmul(ys, ws, gx, 1, 2048, k, n, transposeB: true), f));
            rows.Add(($"step {layer} ∂W = xᵀ·∂y", () => be.Matmul(xs, ys, gw, 1, k, n, 2048, transposeA: true), f));
        }
        // The small (h = 128) and tiny (h = 64) presets' attention as the DiT runs it: read in place from the fused
        // QKV projection (B = 32, T = 64, 4 heads, RoPE), forward and forward + backward; FLOPs 4·B·H·T²·D forward,
        // 2.5× that for both.
        foreach (var (preset, d) in new[] { ("small", 32), ("tiny", 16) })
        {
            const int batch = 32, heads = 4, tokens = 64;
            int width = heads * d;
            var qkv = Keep(Rand(batch * tokens * 3 * width));
            var o = Keep(Rand(batch * tokens * width));
            var lse = Keep(Rand(batch * heads * tokens));
            var dO = Keep(Rand(batch * tokens * width));
            var dqkv = Keep(Rand(batch * tokens * 3 * width));
            double f = 4.0 * batch * heads * tokens * tokens * d;
            rows.Add(($"attention {preset} fwd (D = {d})",
                () => be.AttentionQkvForward(qkv, null, batch, heads, tokens, d, AttentionMask.None, 10_000f, o, lse), f));
            rows.Add(($"attention {preset} fwd+bwd (D = {d})", () =>
            {
                be.AttentionQkvForward(qkv, null, batch, heads, tokens, d, AttentionMask.None, 10_000f, o, lse);
                be.AttentionQkvBackward(qkv, o, lse, dO, null, batch, heads, tokens, d, AttentionMask.None, 10_000f, dqkv, false);
            }, 2.5 * f));
        }
        double peak = Lddm.Kernels.Diagnostics.MachinePeak.Fp32GflopsPerSecond(threads: 1);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"1-thread fp32 FMA peak {peak:F1} GFLOP/s"));
        using var mx = Rand(32 * 64 * 128);
        using var mv = Rand(32 * 128);
        using var mdy = Rand(32 * 64 * 128);
        using var mdx = Rand(32 * 64 * 128);
        using var mdr = Rand(32 * 64 * 128);
        using var mds = Rand(32 * 128);
        using var mdc = Rand(32 * 128);
        var extraRows = new (string, Action, double)[]
        {
            ("modulate bwd step add", () => be.ModulateBackward(mx, mv, mdy, 32, 64, 128, mdx, mds, mdc), 0),
            ("modulate bwd step write", () => be.ModulateBackward(mx, mv, mdy, 32, 64, 128, mdx, mds, mdc, writeDx: true), 0),
            ("gated bwd step add", () => be.GatedResidualBackward(mv, mx, mdy, 32, 64, 128, mdr, mds, mdx), 0),
            ("gated bwd step write", () => be.GatedResidualBackward(mv, mx, mdy, 32, 64, 128, mdr, mds, mdx, writeDresidual: true, writeDx: true), 0),
            ("bias+gelu bwd step add", () => be.BiasActivationBackward(x, bias, dy, 1024, 1024, Activation.GeluTanh, dx, db), 0),
            ("bias+gelu bwd step write", () => be.BiasActivationBackward(x, bias, dy, 1024, 1024, Activation.GeluTanh, dx, db, writeDx: true), 0),
        };
        using var process = Process.GetCurrentProcess();
        rows.AddRange(extraRows);
        foreach (var (name, op, flops) in rows.Where(r => filter is null || r.Name.Contains(filter, StringComparison.Ordinal)))
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
            string rate = flops > 0 ? string.Create(CultureInfo.InvariantCulture,
                $", {flops / perCall[2] / 1e9:F1} GFLOP/s = {100 * flops / perCall[2] / 1e9 / peak:F1}% of peak") : "";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-32} {1e6 * perCall[2],10:F1} µs CPU per call (median of 5 × {calls} calls; min {1e6 * perCall[0]:F1}, max {1e6 * perCall[4]:F1}){rate}"));
        }
        extra.ForEach(b => b.Dispose());
    }
}
