using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>Broadcast add over 4M floats: a pure bandwidth kernel (two reads, one write per element).</summary>
internal sealed class ElementwiseQuickBench : IQuickBench
{
    public int Order => 90;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        int rows = backend.Kind == BackendKind.IlgpuCpu ? 16 : 4096, cols = 1024;
        var rng = new Random(1);
        var a = new float[rows * cols];
        var b = new float[cols];
        for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble();
        for (int i = 0; i < b.Length; i++) b[i] = (float)rng.NextDouble();
        using var da = backend.Upload<float>(a);
        using var db = backend.Upload<float>(b);
        using var dst = backend.Allocate<float>(a.Length);
        backend.Add(da, db, dst);
        var expected = ElementwiseReference.Add(a, b);
        var got = dst.ToArray();
        for (int i = 0; i < got.Length; i++)
        {
            if (Math.Abs(got[i] - expected[i]) > 1e-6)
            {
                throw new InvalidOperationException($"Add is wrong at {i}: {got[i]} vs {expected[i]}; not timing it.");
            }
        }
        double t = QuickBench.Time(backend, () => backend.Add(da, db, dst), context.SecondsPerKernel);
        yield return new BenchRow("add (broadcast)", $"{rows}x{cols}", backend.Kind.ToString().ToLowerInvariant(),
            t, 2.0 * a.Length * sizeof(float) + 0.0 * b.Length, ComputeBound: false);
    }
}
