using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>Row softmax over 1024 tokens × 1024 columns: memory-bound (x read, y written; backward reads y, dy, dx).</summary>
internal sealed class SoftmaxQuickBench : IQuickBench
{
    public int Order => 60;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        int rows = backend.Kind == BackendKind.IlgpuCpu ? 16 : 1024, cols = 1024, n = rows * cols;
        var rng = new Random(1);
        var x = new float[n];
        var g = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)(rng.NextDouble() * 8 - 4);
            g[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        using var dx = backend.Upload<float>(x);
        using var dy = backend.Allocate<float>(n);
        using var dg = backend.Upload<float>(g);
        using var dgrad = backend.Full(n, 0f);
        backend.SoftmaxForward(dx, rows, cols, dy);
        var y = dy.ToArray();
        QuickBench.Validate("SoftmaxForward", SoftmaxReference.Softmax(x, rows, cols), y, 1e-5);
        backend.SoftmaxBackward(dy, dg, rows, cols, dgrad);
        QuickBench.Validate("SoftmaxBackward", SoftmaxReference.SoftmaxBackward(y.Select(v => (double)v).ToArray(), g, new float[n], rows, cols),
            dgrad.ToArray(), 1e-5);
        string shape = $"{rows}x{cols}", name = backend.Kind.ToString().ToLowerInvariant();
        double t = QuickBench.Time(backend, () => backend.SoftmaxForward(dx, rows, cols, dy), context.SecondsPerKernel);
        yield return new BenchRow("softmax fwd", shape, name, t, 2.0 * n * sizeof(float), ComputeBound: false);
        t = QuickBench.Time(backend, () => backend.LogSoftmaxForward(dx, rows, cols, dy), context.SecondsPerKernel);
        yield return new BenchRow("log-softmax fwd", shape, name, t, 2.0 * n * sizeof(float), ComputeBound: false);
        t = QuickBench.Time(backend, () => backend.SoftmaxBackward(dy, dg, rows, cols, dgrad), context.SecondsPerKernel);
        yield return new BenchRow("softmax bwd", shape, name, t, 4.0 * n * sizeof(float), ComputeBound: false);
    }
}
