using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>
/// Bias + tanh-GELU forward and backward on a transformer MLP activation: 1024 tokens (8·128) × 1024 (4·256).
/// Memory-bound: forward reads x and bias and writes y; backward reads x, bias, dy, dx and writes dx and dbias.
/// </summary>
internal sealed class ActivationQuickBench : IQuickBench
{
    public int Order => 60;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        int rows = backend.Kind == BackendKind.IlgpuCpu ? 16 : 1024, cols = 1024, n = rows * cols;
        var rng = new Random(3);
        float[] x = QuickBench.RandomFloats(rng, n, 3f), bias = QuickBench.RandomFloats(rng, cols, 1f), dy = QuickBench.RandomFloats(rng, n, 1f);
        using var bx = backend.Upload<float>(x);
        using var bb = backend.Upload<float>(bias);
        using var bdy = backend.Upload<float>(dy);
        using var y = backend.Allocate<float>(n);
        using var dx = backend.Full(n, 0f);
        using var db = backend.Full(cols, 0f);

        backend.BiasActivationForward(bx, bb, rows, cols, Activation.GeluTanh, y);
        QuickBench.Validate("bias+gelu fwd", ActivationReference.Forward(x, bias, rows, cols, Activation.GeluTanh), y.ToArray(), 1e-5);
        backend.BiasActivationBackward(bx, bb, bdy, rows, cols, Activation.GeluTanh, dx, db);
        var (ex, eb) = ActivationReference.Backward(x, bias, dy, rows, cols, Activation.GeluTanh, new float[n], new float[cols]);
        QuickBench.Validate("bias+gelu bwd dx", ex, dx.ToArray(), 1e-5);
        QuickBench.Validate("bias+gelu bwd dbias", eb, db.ToArray(), 1e-3);

        string kind = backend.Kind.ToString().ToLowerInvariant(), shape = $"{rows}x{cols}";
        double t = QuickBench.Time(backend, () => backend.BiasActivationForward(bx, bb, rows, cols, Activation.GeluTanh, y),
            context.SecondsPerKernel);
        yield return new BenchRow("bias+gelu fwd", shape, kind, t, 4.0 * (2.0 * n + cols), ComputeBound: false);
        t = QuickBench.Time(backend, () => backend.BiasActivationBackward(bx, bb, bdy, rows, cols, Activation.GeluTanh, dx, db),
            context.SecondsPerKernel);
        yield return new BenchRow("bias+gelu bwd", shape, kind, t, 4.0 * (4.0 * n + 3.0 * cols), ComputeBound: false);
    }
}
