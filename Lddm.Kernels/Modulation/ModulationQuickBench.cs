using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>adaLN modulate forward and backward at a DiT block's shape (8 sequences × 128 tokens × 1024): bandwidth kernels.</summary>
internal sealed class ModulationQuickBench : IQuickBench
{
    public int Order => 110;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        int batch = 8, tokens = backend.Kind == BackendKind.IlgpuCpu ? 4 : 128, hidden = 1024;
        int n = batch * tokens * hidden, m = batch * hidden;
        var rng = new Random(1);
        float[] x = QuickBench.RandomFloats(rng, n), shift = QuickBench.RandomFloats(rng, m), scale = QuickBench.RandomFloats(rng, m), dy = QuickBench.RandomFloats(rng, n);
        using var dx = backend.Upload<float>(x);
        using var dshift = backend.Upload<float>(shift);
        using var dscale = backend.Upload<float>(scale);
        using var ddy = backend.Upload<float>(dy);
        using var y = backend.Allocate<float>(n);
        using var gx = backend.Full(n, 0f);
        using var gshift = backend.Full(m, 0f);
        using var gscale = backend.Full(m, 0f);

        backend.ModulateForward(dx, dshift, dscale, batch, tokens, hidden, y);
        QuickBench.Validate("ModulateForward", ModulationReference.ModulateForward(x, shift, scale, batch, tokens, hidden), y.ToArray(), 1e-4);
        backend.ModulateBackward(dx, dscale, ddy, batch, tokens, hidden, gx, gshift, gscale);
        var (ex, eshift, escale) = ModulationReference.ModulateBackward(x, scale, dy, batch, tokens, hidden,
            new float[n], new float[m], new float[m]);
        QuickBench.Validate("ModulateBackward dx", ex, gx.ToArray(), 1e-4);
        QuickBench.Validate("ModulateBackward dshift", eshift, gshift.ToArray(), 1e-4);
        QuickBench.Validate("ModulateBackward dscale", escale, gscale.ToArray(), 1e-4);

        string shape = $"{batch}x{tokens}x{hidden}", kind = backend.Kind.ToString().ToLowerInvariant();
        double t = QuickBench.Time(backend, () => backend.ModulateForward(dx, dshift, dscale, batch, tokens, hidden, y),
            context.SecondsPerKernel);
        yield return new BenchRow("modulate fwd", shape, kind, t, 4.0 * (2.0 * n + 2.0 * m), ComputeBound: false);
        // Reads x, dy, dx; writes dx; reads scale and read-modify-writes dshift, dscale.
        t = QuickBench.Time(backend, () => backend.ModulateBackward(dx, dscale, ddy, batch, tokens, hidden, gx, gshift, gscale),
            context.SecondsPerKernel);
        yield return new BenchRow("modulate bwd", shape, kind, t, 4.0 * (4.0 * n + 5.0 * m), ComputeBound: false);
    }
}
