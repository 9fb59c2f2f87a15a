using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>
/// Affine LayerNorm forward and backward over 1024 tokens (8·128) × 1024 features. Memory-bound: forward reads x,
/// γ, β and writes y, μ, rstd; backward reads x, γ, μ, rstd, dy, dx, dγ, dβ and writes dx, dγ, dβ.
/// </summary>
internal sealed class LayerNormQuickBench : IQuickBench
{
    public int Order => 61;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        int rows = backend.Kind == BackendKind.IlgpuCpu ? 16 : 1024, cols = 1024, n = rows * cols;
        const float eps = 1e-5f;
        var rng = new Random(4);
        float[] x = QuickBench.RandomFloats(rng, n, 2f), gamma = QuickBench.RandomFloats(rng, cols, 1f), beta = QuickBench.RandomFloats(rng, cols, 1f), dy = QuickBench.RandomFloats(rng, n, 1f);
        using var bx = backend.Upload<float>(x);
        using var bg = backend.Upload<float>(gamma);
        using var bb = backend.Upload<float>(beta);
        using var bdy = backend.Upload<float>(dy);
        using var y = backend.Allocate<float>(n);
        using var mean = backend.Allocate<float>(rows);
        using var rstd = backend.Allocate<float>(rows);
        using var dx = backend.Full(n, 0f);
        using var dg = backend.Full(cols, 0f);
        using var db = backend.Full(cols, 0f);

        backend.LayerNormForward(bx, bg, bb, rows, cols, eps, y, mean, rstd);
        var f = LayerNormReference.Forward(LayerNormReference.ToDouble(x), LayerNormReference.ToDouble(gamma),
            LayerNormReference.ToDouble(beta), rows, cols, eps);
        QuickBench.Validate("layernorm fwd", f.Y, y.ToArray(), 1e-4);
        backend.LayerNormBackward(bx, bg, mean, rstd, bdy, rows, cols, dx, dg, db);
        var (ex, eg, eb) = LayerNormReference.Backward(LayerNormReference.ToDouble(x), LayerNormReference.ToDouble(gamma),
            LayerNormReference.ToDouble(mean.ToArray()), LayerNormReference.ToDouble(rstd.ToArray()),
            LayerNormReference.ToDouble(dy), rows, cols);
        QuickBench.Validate("layernorm bwd dx", ex, dx.ToArray(), 1e-4);
        QuickBench.Validate("layernorm bwd dgamma", eg, dg.ToArray(), 1e-3);
        QuickBench.Validate("layernorm bwd dbeta", eb, db.ToArray(), 1e-3);

        string kind = backend.Kind.ToString().ToLowerInvariant(), shape = $"{rows}x{cols}";
        double t = QuickBench.Time(backend, () => backend.LayerNormForward(bx, bg, bb, rows, cols, eps, y, mean, rstd),
            context.SecondsPerKernel);
        yield return new BenchRow("layernorm fwd", shape, kind, t, 4.0 * (2.0 * n + 2.0 * cols + 2.0 * rows), ComputeBound: false);
        t = QuickBench.Time(backend, () => backend.LayerNormBackward(bx, bg, mean, rstd, bdy, rows, cols, dx, dg, db),
            context.SecondsPerKernel);
        yield return new BenchRow("layernorm bwd", shape, kind, t, 4.0 * (4.0 * n + 5.0 * cols + 2.0 * rows), ComputeBound: false);
    }
}
