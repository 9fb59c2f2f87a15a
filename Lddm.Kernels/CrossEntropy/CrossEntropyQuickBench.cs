using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>
/// SUBS cross-entropy forward + backward over 1024 tokens, char-level (V = 65) and larger (V = 1025) vocabularies,
/// every row masked (the costliest case). Bytes: logits read twice, dlogits read and written.
/// </summary>
internal sealed class CrossEntropyQuickBench : IQuickBench
{
    public int Order => 65;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        foreach (int vocab in new[] { 65, 1025 })
        {
            yield return Measure(context, vocab);
        }
    }

    private static BenchRow Measure(BenchContext context, int vocab)
    {
        var backend = context.Backend;
        int rows = backend.Kind == BackendKind.IlgpuCpu ? 16 : 1024, n = rows * vocab;
        var rng = new Random(2);
        var logits = new float[n];
        for (int i = 0; i < n; i++)
        {
            logits[i] = (float)(rng.NextDouble() * 10 - 5);
        }
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab - 1)).ToArray();
        var noisy = Enumerable.Repeat(vocab - 1, rows).ToArray();
        var weights = Enumerable.Range(0, rows).Select(_ => (float)rng.NextDouble()).ToArray();
        var dlossHost = Enumerable.Repeat(1f / rows, rows).ToArray();
        using var blogits = backend.Upload<float>(logits);
        using var dt = backend.Upload<int>(targets);
        using var dz = backend.Upload<int>(noisy);
        using var dw = backend.Upload<float>(weights);
        using var loss = backend.Allocate<float>(rows);
        using var dloss = backend.Upload<float>(dlossHost);
        using var grad = backend.Full(n, 0f);
        backend.SubsCrossEntropyForward(blogits, dt, dz, dw, rows, vocab, loss);
        backend.SubsCrossEntropyBackward(blogits, dt, dz, dw, dloss, rows, vocab, grad);
        Validate(CrossEntropyReference.SubsForward(logits, targets, noisy, weights, rows, vocab), loss.ToArray(), vocab);
        Validate(CrossEntropyReference.SubsBackward(logits, targets, noisy, weights, dlossHost, new float[n], rows, vocab),
            grad.ToArray(), vocab);
        double t = QuickBench.Time(backend, () =>
        {
            backend.SubsCrossEntropyForward(blogits, dt, dz, dw, rows, vocab, loss);
            backend.SubsCrossEntropyBackward(blogits, dt, dz, dw, dloss, rows, vocab, grad);
        }, context.SecondsPerKernel);
        return new BenchRow("subs cross-entropy f+b", $"{rows}x{vocab}", backend.Kind.ToString().ToLowerInvariant(), t,
            4.0 * n * sizeof(float) + 5.0 * rows * sizeof(float), ComputeBound: false);
    }

    private static void Validate(double[] expected, float[] got, int vocab)
    {
        for (int i = 0; i < got.Length; i++)
        {
            if (!(Math.Abs(got[i] - expected[i]) <= 1e-5 * (1 + Math.Abs(expected[i]))))
            {
                throw new InvalidOperationException(
                    $"SUBS cross-entropy (vocab {vocab}) is wrong at {i}: {got[i]} vs {expected[i]}; not timing it.");
            }
        }
    }
}
