using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>
/// Philox fills of 4M floats (1024 tokens × 4096, e.g. noise for a latent batch): GB/s of output written.
/// The uniform fill is compute bound on the CPU (ten Philox rounds per element); the normal fill adds
/// double log/cos/sqrt per element.
/// </summary>
internal sealed class RngQuickBench : IQuickBench
{
    public int Order => 95;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        int n = backend.Kind == BackendKind.IlgpuCpu ? 1 << 14 : 1 << 22;
        const ulong seed = 0x5EED, stream = 3;
        using var dst = backend.Allocate<float>(n);
        string kind = backend.Kind.ToString().ToLowerInvariant();

        backend.FillUniform(seed, stream, 0, dst);
        QuickBench.Validate("FillUniform", RngReference.Uniform(seed, stream, 0, 4096), dst.ToArray(), 0);
        double t = QuickBench.Time(backend, () => backend.FillUniform(seed, stream, 0, dst), context.SecondsPerKernel);
        yield return new BenchRow("rng uniform (philox)", $"{n}", kind, t, 4.0 * n, ComputeBound: false);

        backend.FillNormal(seed, stream, 0, dst);
        QuickBench.Validate("FillNormal", RngReference.Normal(seed, stream, 0, 4096), dst.ToArray(), 1e-6);
        t = QuickBench.Time(backend, () => backend.FillNormal(seed, stream, 0, dst), context.SecondsPerKernel);
        yield return new BenchRow("rng normal (philox)", $"{n}", kind, t, 4.0 * n, ComputeBound: false);
    }

}
