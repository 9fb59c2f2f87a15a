using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>
/// Gaussian latent kernels at an LDDM latent's shape: 64 sequences × (32 patches × 64 dims) for the noising and step
/// kernels, (64·32 rows × 64) for the L2 normalisation, (8·128 tokens × 256) for the row scale. All bandwidth kernels
/// (the noising ones also pay for Philox + Box–Muller per element); GB/s counts bytes read + written.
/// </summary>
internal sealed class GaussianQuickBench : IQuickBench
{
    public int Order => 112;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        bool small = backend.Kind == BackendKind.IlgpuCpu;
        int batch = small ? 4 : 64, dim = small ? 256 : 32 * 64, n = batch * dim;
        var rng = new Random(1);
        float[] y0 = QuickBench.RandomFloats(rng, n), y0Hat = QuickBench.RandomFloats(rng, n);
        float[] abar = Coefficients(rng, batch), sbar = Coefficients(rng, batch), abarS = Coefficients(rng, batch), sbarS = Coefficients(rng, batch);
        using var by0 = backend.Upload<float>(y0);
        using var by0Hat = backend.Upload<float>(y0Hat);
        using var ba = backend.Upload<float>(abar);
        using var bs = backend.Upload<float>(sbar);
        using var baS = backend.Upload<float>(abarS);
        using var bsS = backend.Upload<float>(sbarS);
        using var eps = backend.Allocate<float>(n);
        using var yt = backend.Allocate<float>(n);
        using var ys = backend.Allocate<float>(n);

        backend.GaussianNoise(by0, ba, bs, batch, dim, 7, 1, 0, eps, yt);
        var (eEps, eYt) = GaussianReference.Noise(y0, abar, sbar, batch, dim, 7, 1, 0);
        QuickBench.Validate("GaussianNoise eps", eEps, eps.ToArray(), 1e-5);
        QuickBench.Validate("GaussianNoise yt", eYt, yt.ToArray(), 1e-5);
        var ytHost = yt.ToArray();
        backend.GaussianDdpmStep(yt, by0Hat, bs, ba, baS, batch, dim, 7, 2, 0, ys);
        QuickBench.Validate("GaussianDdpmStep", GaussianReference.DdpmStep(ytHost, y0Hat, sbar, abar, abarS, batch, dim, 7, 2, 0),
            ys.ToArray(), 1e-5);
        backend.GaussianDdimStep(yt, by0Hat, ba, bs, baS, bsS, batch, dim, ys);
        QuickBench.Validate("GaussianDdimStep", GaussianReference.DdimStep(ytHost, y0Hat, abar, sbar, abarS, sbarS, batch, dim),
            ys.ToArray(), 1e-4);
        backend.GaussianEpsToY0(yt, eps, ba, bs, batch, dim, ys);
        QuickBench.Validate("GaussianEpsToY0", GaussianReference.EpsToY0(ytHost, eps.ToArray(), abar, sbar, batch, dim),
            ys.ToArray(), 1e-4);

        string shape = $"{batch}x{dim}", kind = backend.Kind.ToString().ToLowerInvariant();
        double t = QuickBench.Time(backend, () => backend.GaussianNoise(by0, ba, bs, batch, dim, 7, 1, 0, eps, yt), context.SecondsPerKernel);
        yield return new BenchRow("gaussian noise", shape, kind, t, 4.0 * 3 * n, ComputeBound: false);
        t = QuickBench.Time(backend, () => backend.GaussianDdpmStep(yt, by0Hat, bs, ba, baS, batch, dim, 7, 2, 0, ys), context.SecondsPerKernel);
        yield return new BenchRow("gaussian ddpm step", shape, kind, t, 4.0 * 3 * n, ComputeBound: false);
        t = QuickBench.Time(backend, () => backend.GaussianDdimStep(yt, by0Hat, ba, bs, baS, bsS, batch, dim, ys), context.SecondsPerKernel);
        yield return new BenchRow("gaussian ddim step", shape, kind, t, 4.0 * 3 * n, ComputeBound: false);
        t = QuickBench.Time(backend, () => backend.GaussianEpsToY0(yt, eps, ba, bs, batch, dim, ys), context.SecondsPerKernel);
        yield return new BenchRow("gaussian eps->y0", shape, kind, t, 4.0 * 3 * n, ComputeBound: false);

        foreach (var row in RowKernels(context, small))
        {
            yield return row;
        }
    }

    private static IEnumerable<BenchRow> RowKernels(BenchContext context, bool small)
    {
        var backend = context.Backend;
        var rng = new Random(2);
        string kind = backend.Kind.ToString().ToLowerInvariant();

        int rows = small ? 16 : 8 * 128, cols = 256, n = rows * cols;
        float[] x = QuickBench.RandomFloats(rng, n), scale = QuickBench.RandomFloats(rng, rows), dy = QuickBench.RandomFloats(rng, n);
        using var bx = backend.Upload<float>(x);
        using var bscale = backend.Upload<float>(scale);
        using var bdy = backend.Upload<float>(dy);
        using var y = backend.Allocate<float>(n);
        using var gx = backend.Full(n, 0f);
        using var gs = backend.Full(rows, 0f);
        backend.RowScale(bx, bscale, rows, cols, y);
        QuickBench.Validate("RowScale", GaussianReference.RowScale(x, scale, rows, cols), y.ToArray(), 1e-5);
        backend.RowScaleBackward(bdy, bx, bscale, rows, cols, gx, gs);
        var (ex, es) = GaussianReference.RowScaleBackward(dy, x, scale, rows, cols, new float[n], new float[rows]);
        QuickBench.Validate("RowScaleBackward dx", ex, gx.ToArray(), 1e-5);
        QuickBench.Validate("RowScaleBackward dscale", es, gs.ToArray(), 1e-4);
        string shape = $"{rows}x{cols}";
        double t = QuickBench.Time(backend, () => backend.RowScale(bx, bscale, rows, cols, y), context.SecondsPerKernel);
        yield return new BenchRow("row scale fwd", shape, kind, t, 4.0 * (2.0 * n + rows), ComputeBound: false);
        t = QuickBench.Time(backend, () => backend.RowScaleBackward(bdy, bx, bscale, rows, cols, gx, gs), context.SecondsPerKernel);
        yield return new BenchRow("row scale bwd", shape, kind, t, 4.0 * (4.0 * n + 3.0 * rows), ComputeBound: false);

        int lrows = small ? 16 : 64 * 32, lcols = 64, ln = lrows * lcols;
        float[] lx = QuickBench.RandomFloats(rng, ln), ldy = QuickBench.RandomFloats(rng, ln);
        using var blx = backend.Upload<float>(lx);
        using var bldy = backend.Upload<float>(ldy);
        using var ly = backend.Allocate<float>(ln);
        using var norms = backend.Allocate<float>(lrows);
        using var lgx = backend.Full(ln, 0f);
        backend.RowL2Normalize(blx, lrows, lcols, 1e-12f, ly, norms);
        QuickBench.Validate("RowL2Normalize", GaussianReference.RowL2Normalize(lx, lrows, lcols, 1e-12).Y, ly.ToArray(), 1e-5);
        backend.RowL2NormalizeBackward(bldy, ly, norms, lrows, lcols, lgx);
        QuickBench.Validate("RowL2NormalizeBackward", GaussianReference.RowL2NormalizeBackward(ldy, lx, lrows, lcols, 1e-12, new float[ln]),
            lgx.ToArray(), 1e-4);
        shape = $"{lrows}x{lcols}";
        t = QuickBench.Time(backend, () => backend.RowL2Normalize(blx, lrows, lcols, 1e-12f, ly, norms), context.SecondsPerKernel);
        yield return new BenchRow("row l2norm fwd", shape, kind, t, 4.0 * (2.0 * ln + lrows), ComputeBound: false);
        t = QuickBench.Time(backend, () => backend.RowL2NormalizeBackward(bldy, ly, norms, lrows, lcols, lgx), context.SecondsPerKernel);
        yield return new BenchRow("row l2norm bwd", shape, kind, t, 4.0 * (4.0 * ln + lrows), ComputeBound: false);
    }

    /// <summary>ᾱ, σ̄-like values in [0.2, 1).</summary>
    private static float[] Coefficients(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)(0.2 + 0.8 * rng.NextDouble())).ToArray();
}
