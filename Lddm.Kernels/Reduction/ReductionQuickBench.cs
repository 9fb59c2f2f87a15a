using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>Sum of 4M floats and column sums of 1024×1024 (a bias gradient): pure reads, one float each.</summary>
internal sealed class ReductionQuickBench : IQuickBench
{
    public int Order => 91;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        bool sim = backend.Kind == BackendKind.IlgpuCpu;
        string kind = backend.Kind.ToString().ToLowerInvariant();
        var rng = new Random(2);

        int n = sim ? 1 << 14 : 1 << 22;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        using (var dx = backend.Upload<float>(x))
        using (var result = backend.Allocate<float>(1))
        {
            backend.Sum(dx, result);
            double expected = ReductionReference.Sum(x), got = result.ToArray()[0];
            if (Math.Abs(got - expected) > 1e-5 * Math.Sqrt(n))
            {
                throw new InvalidOperationException($"Sum is wrong: {got} vs {expected}; not timing it.");
            }
            double t = QuickBench.Time(backend, () => backend.Sum(dx, result), context.SecondsPerKernel);
            yield return new BenchRow("sum", $"{n}", kind, t, 4.0 * n, ComputeBound: false);
        }

        int rows = sim ? 64 : 1024, cols = sim ? 64 : 1024;
        var m = new float[rows * cols];
        for (int i = 0; i < m.Length; i++) m[i] = (float)(rng.NextDouble() * 2 - 1);
        using var dm = backend.Upload<float>(m);
        using var sums = backend.Allocate<float>(cols);
        backend.SumRows(dm, rows, cols, sums, false);
        var want = ReductionReference.SumRows(m, rows, cols, []);
        var have = sums.ToArray();
        for (int c = 0; c < cols; c++)
        {
            if (Math.Abs(have[c] - want[c]) > 1e-5 * Math.Sqrt(rows))
            {
                throw new InvalidOperationException($"SumRows is wrong at {c}: {have[c]} vs {want[c]}; not timing it.");
            }
        }
        double ts = QuickBench.Time(backend, () => backend.SumRows(dm, rows, cols, sums, false), context.SecondsPerKernel);
        yield return new BenchRow("sum rows (bias grad)", $"{rows}x{cols}", kind, ts, 4.0 * (m.Length + cols), ComputeBound: false);
    }
}
