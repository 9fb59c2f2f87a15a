using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The one-pass (online) row max and Σexp of the ILGPU softmax and SUBS cross-entropy kernels: rows much longer than a
/// group, so each thread sees many entries and its running max grows several times (the rescaling path the short-row
/// property tests never reach); rising rows make every new entry a new max. Both reduction strategies, float64 references.
/// </summary>
public sealed class OnlineSoftmaxTests
{
    private static float[] LongRows(Random rng, int rows, int cols, bool rising, bool holes)
    {
        var x = Numerics.RandomFloats(rng, rows * cols, 6f);
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < cols; j++)
            {
                int i = r * cols + j;
                if (rising)
                {
                    x[i] = 0.01f * j + 0.5f * x[i];
                }
                if (holes && rng.Next(5) == 0)
                {
                    x[i] = float.NegativeInfinity;
                }
            }
        }
        return x;
    }

    [Property(MaxTest = 6)]
    public void Long_rows_match_the_float64_reference(bool rising, bool holes, int seed)
    {
        var rng = new Random(seed);
        int rows = 3, cols = 600 + rng.Next(1500);
        var x = LongRows(rng, rows, cols, rising, holes);
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(cols - 1)).ToArray();
        var noisy = Enumerable.Repeat(cols - 1, rows).ToArray();
        var weights = Numerics.RandomFloats(rng, rows, 1f).Select(w => 1f + Math.Abs(w)).ToArray();
        var dloss = Numerics.RandomFloats(rng, rows);
        var dlogits0 = Numerics.RandomFloats(rng, rows * cols);
        if (holes)
        {
            for (int r = 0; r < rows; r++)
            {
                x[r * cols + targets[r]] = 1f; // a finite target logit: the loss stays finite
            }
        }
        foreach (var backend in TestBackends.AllAndNoShuffles.Where(b => b.Kind != BackendKind.Cpu))
        {
            string ctx = $"{backend.Name}, seed {seed}, ({rows}, {cols}), rising {rising}, holes {holes}";
            using var dx = backend.Upload<float>(x);
            using var y = Numerics.Poisoned(backend, x.Length);
            backend.SoftmaxForward(dx, rows, cols, y);
            Numerics.AssertClose(SoftmaxReference.Softmax(x, rows, cols), y.ToArray(), Numerics.Tolerance(cols),
                "SoftmaxForward " + ctx);
            backend.LogSoftmaxForward(dx, rows, cols, y);
            Numerics.AssertClose(SoftmaxReference.LogSoftmax(x, rows, cols), y.ToArray(), Numerics.Tolerance(cols),
                "LogSoftmaxForward " + ctx);

            using var bt = backend.Upload<int>(targets);
            using var bn = backend.Upload<int>(noisy);
            using var bw = backend.Upload<float>(weights);
            using var loss = Numerics.Poisoned(backend, rows);
            backend.SubsCrossEntropyForward(dx, bt, bn, bw, rows, cols, loss);
            Numerics.AssertClose(CrossEntropyReference.SubsForward(x, targets, noisy, weights, rows, cols), loss.ToArray(),
                Numerics.Tolerance(cols), "SubsCrossEntropyForward " + ctx);
            using var bdl = backend.Upload<float>(dloss);
            using var bdx = backend.Upload<float>(dlogits0);
            backend.SubsCrossEntropyBackward(dx, bt, bn, bw, bdl, rows, cols, bdx);
            Numerics.AssertClose(CrossEntropyReference.SubsBackward(x, targets, noisy, weights, dloss, dlogits0, rows, cols),
                bdx.ToArray(), Numerics.Tolerance(cols), "SubsCrossEntropyBackward " + ctx);
        }
    }
}
