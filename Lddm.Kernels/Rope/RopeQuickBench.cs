using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>RoPE forward on attention queries (8 × 8 heads × 128 tokens × 64): a bandwidth kernel.</summary>
internal sealed class RopeQuickBench : IQuickBench
{
    public int Order => 111;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        int batch = 8, heads = backend.Kind == BackendKind.IlgpuCpu ? 1 : 8, tokens = backend.Kind == BackendKind.IlgpuCpu ? 16 : 128;
        const int headDim = 64;
        const float theta = 10000f;
        int n = batch * heads * tokens * headDim;
        var rng = new Random(1);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        using var dx = backend.Upload<float>(x);
        using var y = backend.Allocate<float>(n);
        backend.RopeForward(dx, batch, heads, tokens, headDim, theta, y);
        var expected = RopeReference.Forward(x, batch, heads, tokens, headDim, theta);
        var got = y.ToArray();
        for (int i = 0; i < n; i++)
        {
            if (!(Math.Abs(got[i] - expected[i]) <= 1e-5))
            {
                throw new InvalidOperationException($"RopeForward is wrong at {i}: {got[i]} vs {expected[i]}; not timing it.");
            }
        }
        double t = QuickBench.Time(backend, () => backend.RopeForward(dx, batch, heads, tokens, headDim, theta, y),
            context.SecondsPerKernel);
        yield return new BenchRow("rope fwd", $"{batch}x{heads}x{tokens}x{headDim}", backend.Kind.ToString().ToLowerInvariant(),
            t, 2.0 * n * sizeof(float), ComputeBound: false);
    }
}
