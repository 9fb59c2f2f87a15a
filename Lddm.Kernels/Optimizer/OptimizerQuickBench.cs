using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>AdamW over 4M parameters (reads p, g, m, v; writes p, m, v) and the squared gradient norm over 4M.</summary>
internal sealed class OptimizerQuickBench : IQuickBench
{
    public int Order => 92;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        int n = backend.Kind == BackendKind.IlgpuCpu ? 1 << 14 : 1 << 22;
        string kind = backend.Kind.ToString().ToLowerInvariant();
        var rng = new Random(4);
        float[] p = QuickBench.RandomFloats(rng, n), g = QuickBench.RandomFloats(rng, n);
        using var dp = backend.Upload<float>(p);
        using var dg = backend.Upload<float>(g);
        using var dm = backend.Full(n, 0f);
        using var dv = backend.Full(n, 0f);
        using var norm = backend.Allocate<float>(1);

        var hp = new AdamWParameters(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
        backend.AdamWStep(dp, dg, dm, dv, hp);
        double[] rp = [.. p.Select(x => (double)x)], rm = new double[n], rv = new double[n];
        OptimizerReference.AdamWStep(rp, g, rm, rv, hp);
        QuickBench.Validate("AdamWStep", rp, dp.ToArray(), 1e-5);

        backend.GradNormSquared([dg], norm);
        QuickBench.Validate("GradNormSquared", [OptimizerReference.GradNormSquared([g])], norm.ToArray(), 1e-5);

        // Later AdamW steps keep changing p, m, v; the work per call is the same.
        double ta = QuickBench.Time(backend, () => backend.AdamWStep(dp, dg, dm, dv, hp with { Step = 2 }), context.SecondsPerKernel);
        yield return new BenchRow("adamw step", $"{n}", kind, ta, 7.0 * n * sizeof(float), ComputeBound: false);
        double tn = QuickBench.Time(backend, () => backend.GradNormSquared([dg], norm), context.SecondsPerKernel);
        yield return new BenchRow("grad norm squared", $"{n}", kind, tn, 1.0 * n * sizeof(float), ComputeBound: false);
    }
}
