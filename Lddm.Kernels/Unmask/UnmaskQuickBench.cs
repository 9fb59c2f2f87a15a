using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>
/// The fused sampler step over 1024 all-masked positions in Fill mode (every row drawn: the costliest case),
/// char-level (V = 28) and V = 1025. Bytes: the logits read once (the second pass rescans one chunk per row only)
/// plus the ids reset, read and written. The time includes the id reset and the host-side id validation.
/// </summary>
internal sealed class UnmaskQuickBench : IQuickBench
{
    public int Order => 66;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        foreach (int vocab in new[] { 28, 1025 })
        {
            yield return Measure(context, vocab);
        }
    }

    private static BenchRow Measure(BenchContext context, int vocab)
    {
        var backend = context.Backend;
        int rows = backend.Kind == BackendKind.IlgpuCpu ? 16 : 1024, n = rows * vocab, k = vocab - 1;
        var rng = new Random(3);
        var logits = new float[n];
        for (int i = 0; i < n; i++)
        {
            logits[i] = (float)(rng.NextDouble() * 10 - 5);
        }
        var masked = Enumerable.Repeat(k, rows).ToArray();
        using var blogits = backend.Upload<float>(logits);
        using var tokens = backend.Upload<int>(masked);
        backend.UnmaskStep(blogits, tokens, rows, vocab, 0.0, 1.0, 1f, 7, 1, 0, UnmaskMode.Fill);
        var expected = UnmaskReference.Step(logits, masked, rows, vocab, 0.0, 1.0, 1f, 7, 1, 0, UnmaskMode.Fill);
        var got = tokens.ToArray();
        for (int r = 0; r < rows; r++)
        {
            if (got[r] != expected[r])
            {
                throw new InvalidOperationException(
                    $"UnmaskStep (vocab {vocab}) row {r}: token {got[r]}, reference {expected[r]}; not timing it.");
            }
        }
        long offset = 0;
        double t = QuickBench.Time(backend, () =>
        {
            tokens.Fill(k);
            backend.UnmaskStep(blogits, tokens, rows, vocab, 0.0, 1.0, 1f, 7, 1, offset += rows, UnmaskMode.Fill);
        }, context.SecondsPerKernel);
        return new BenchRow("unmask step (fill)", $"{rows}x{vocab}", backend.Kind.ToString().ToLowerInvariant(), t,
            (double)n * sizeof(float) + 3.0 * rows * sizeof(int), ComputeBound: false);
    }
}
