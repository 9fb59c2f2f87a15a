using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>Embedding gather and scatter-add for 1024 tokens × 256 columns from a 1024-row table.</summary>
internal sealed class EmbeddingQuickBench : IQuickBench
{
    public int Order => 55;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        int count = backend.Kind == BackendKind.IlgpuCpu ? 16 : 1024, vocab = 1024, dim = 256, n = count * dim;
        var rng = new Random(3);
        var ids = Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
        var table = Enumerable.Range(0, vocab * dim).Select(_ => (float)rng.NextDouble()).ToArray();
        using var did = backend.Upload<int>(ids);
        using var dtable = backend.Upload<float>(table);
        using var y = backend.Allocate<float>(n);
        using var grad = backend.Full(vocab * dim, 0f);
        backend.EmbeddingForward(did, dtable, count, vocab, dim, y);
        backend.EmbeddingBackward(did, y, count, vocab, dim, grad);
        var expectedY = EmbeddingReference.Forward(ids, table, dim);
        var expectedGrad = EmbeddingReference.Backward(ids, y.ToArray(), new float[vocab * dim], dim);
        QuickBench.Validate("EmbeddingForward", expectedY, y.ToArray(), 1e-5);
        QuickBench.Validate("EmbeddingBackward", expectedGrad, grad.ToArray(), 1e-5);
        string shape = $"{count}x{dim}", name = backend.Kind.ToString().ToLowerInvariant();
        double t = QuickBench.Time(backend, () => backend.EmbeddingForward(did, dtable, count, vocab, dim, y), context.SecondsPerKernel);
        yield return new BenchRow("embedding fwd", shape, name, t, 2.0 * n * sizeof(float), ComputeBound: false);
        t = QuickBench.Time(backend, () => backend.EmbeddingBackward(did, y, count, vocab, dim, grad), context.SecondsPerKernel);
        yield return new BenchRow("embedding bwd", shape, name, t, 3.0 * n * sizeof(float), ComputeBound: false);
    }
}
