using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>
/// The vector quantiser at Di-LADD's OWT codebook shape scaled to a quick run: 1024 rows (batch × latent patches)
/// against C = 1024 codes of D = 128. Nearest code is compute-bound (2·rows·C·D float64 FLOPs, reported against the
/// float32 FMA peak); the EMA update moves x, the codebook state and the code-sorted row order (it includes the
/// host-side bucketing of the indices).
/// </summary>
internal sealed class QuantizeQuickBench : IQuickBench
{
    public int Order => 67;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        bool sim = backend.Kind == BackendKind.IlgpuCpu;
        int rows = sim ? 16 : 1024, codes = sim ? 64 : 1024, dim = 128;
        var rng = new Random(5);
        var x = QuickBench.RandomFloats(rng, rows * dim);
        var cb = QuickBench.RandomFloats(rng, codes * dim);
        var cs = Enumerable.Range(0, codes).Select(_ => (float)(rng.NextDouble() * 4)).ToArray();
        var ea = QuickBench.RandomFloats(rng, codes * dim);
        using var dx = backend.Upload<float>(x);
        using var dcb = backend.Upload<float>(cb);
        using var ids = backend.Allocate<int>(rows);
        using var sims = backend.Allocate<float>(rows);
        backend.NearestCode(dx, dcb, rows, codes, dim, ids, sims);
        var (expected, expectedSim, _) = QuantizeReference.NearestCode(x, cb, rows, codes, dim);
        var got = ids.ToArray();
        for (int n = 0; n < rows; n++)
        {
            if (got[n] != expected[n])
            {
                throw new InvalidOperationException($"NearestCode row {n}: code {got[n]}, reference {expected[n]}; not timing it.");
            }
        }
        QuickBench.Validate("NearestCode similarity", expectedSim, sims.ToArray(), 1e-5);
        using var dcs = backend.Upload<float>(cs);
        using var dea = backend.Upload<float>(ea);
        using var dnew = backend.Allocate<float>(codes * dim);
        backend.CodebookEmaUpdate(dx, ids, rows, codes, dim, 0.95, 1e-5, dcs, dea, dnew);
        var (_, _, reference) = QuantizeReference.EmaUpdate(x, got, rows, codes, dim, 0.95, 1e-5, cs, ea);
        QuickBench.Validate("CodebookEmaUpdate", reference, dnew.ToArray(), 1e-4);
        string shape = $"{rows}x{codes}x{dim}", name = backend.Kind.ToString().ToLowerInvariant();
        double t = QuickBench.Time(backend, () => backend.NearestCode(dx, dcb, rows, codes, dim, ids, sims), context.SecondsPerKernel);
        yield return new BenchRow("nearest code (cos, f64)", shape, name, t, 2.0 * rows * codes * dim, ComputeBound: true);
        t = QuickBench.Time(backend, () => backend.CodebookEmaUpdate(dx, ids, rows, codes, dim, 0.95, 1e-5, dcs, dea, dnew),
            context.SecondsPerKernel);
        yield return new BenchRow("codebook EMA update", shape, name, t,
            (rows * dim + 3.0 * codes * dim + 2.0 * codes) * sizeof(float) + 2.0 * rows * sizeof(int), ComputeBound: false);
    }
}
