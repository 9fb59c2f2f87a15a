using FsCheck.Xunit;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Lddm.Kernels.Tests;

public sealed class CrossEntropyTests
{
    /// <summary>V = K + 1: tiny, around vector and warp widths, char-level (65) and ~100.</summary>
    private static readonly int[] s_vocabs = [2, 3, 8, 17, 18, 33, 34, 65, 101];

    /// <summary>A SUBS batch: about half the rows masked, the rest carry-over; the MASK logit is NaN to prove it is never read.</summary>
    private sealed record Batch(float[] Logits, int[] Targets, int[] Noisy, float[] Weights, int Rows, int Vocab)
    {
        public static Batch Random(int seed, int rows, int vocab)
        {
            var rng = new Random(seed);
            int k = vocab - 1;
            var logits = Numerics.RandomFloats(rng, rows * vocab, 5f);
            var targets = new int[rows];
            var noisy = new int[rows];
            var weights = new float[rows];
            for (int r = 0; r < rows; r++)
            {
                logits[r * vocab + k] = float.NaN;
                targets[r] = rng.Next(k);
                noisy[r] = rng.Next(2) == 0 ? k : rng.Next(k);
                weights[r] = (float)(rng.NextDouble() * 4);
            }
            return new Batch(logits, targets, noisy, weights, rows, vocab);
        }
    }

    private static int Vocab(int pick) => s_vocabs[(int)((uint)pick % s_vocabs.Length)];

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void SubsForward_matches_the_reference_and_gives_exactly_zero_on_carry_over_rows(SmallDim anyRows, int pick, int seed)
    {
        int vocab = Vocab(pick);
        foreach (var backend in TestBackends.AllAndNoShuffles)
        {
            int rows = SoftmaxTests.SimulatorRows(backend, anyRows);
            var b = Batch.Random(seed, rows, vocab);
            using var logits = backend.Upload<float>(b.Logits);
            using var targets = backend.Upload<int>(b.Targets);
            using var noisy = backend.Upload<int>(b.Noisy);
            using var weights = backend.Upload<float>(b.Weights);
            using var loss = Numerics.Poisoned(backend, rows);
            backend.SubsCrossEntropyForward(logits, targets, noisy, weights, rows, vocab, loss);
            string context = $"SubsCrossEntropyForward on {backend.Name}, seed {seed}, (rows {rows}, vocab {vocab})";
            var actual = loss.ToArray();
            for (int r = 0; r < rows; r++)
            {
                if (b.Noisy[r] != vocab - 1 && !(actual[r] == 0f))
                {
                    throw new XunitException($"{context}: carry-over row {r} has loss {actual[r]:R}, not 0.");
                }
            }
            Numerics.AssertClose(CrossEntropyReference.SubsForward(b.Logits, b.Targets, b.Noisy, b.Weights, rows, vocab),
                actual, Numerics.Tolerance(vocab), context);
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void SubsBackward_accumulates_the_reference_and_leaves_mask_column_and_carry_over_rows_untouched(
        SmallDim anyRows, int pick, int seed)
    {
        int vocab = Vocab(pick);
        foreach (var backend in TestBackends.AllAndNoShuffles)
        {
            int rows = SoftmaxTests.SimulatorRows(backend, anyRows);
            var b = Batch.Random(seed, rows, vocab);
            var rng = new Random(~seed);
            var dloss = Numerics.RandomFloats(rng, rows);
            var prefill = Numerics.RandomFloats(rng, rows * vocab);
            using var logits = backend.Upload<float>(b.Logits);
            using var targets = backend.Upload<int>(b.Targets);
            using var noisy = backend.Upload<int>(b.Noisy);
            using var weights = backend.Upload<float>(b.Weights);
            using var bdloss = backend.Upload<float>(dloss);
            using var dlogits = backend.Upload<float>(prefill);
            backend.SubsCrossEntropyBackward(logits, targets, noisy, weights, bdloss, rows, vocab, dlogits);
            string context = $"SubsCrossEntropyBackward on {backend.Name}, seed {seed}, (rows {rows}, vocab {vocab})";
            var actual = dlogits.ToArray();
            for (int r = 0; r < rows; r++)
            {
                for (int j = 0; j < vocab; j++)
                {
                    int i = r * vocab + j;
                    bool untouched = j == vocab - 1 || b.Noisy[r] != vocab - 1;
                    if (untouched && BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(prefill[i]))
                    {
                        throw new XunitException($"{context}: ({r}, {j}) should be untouched: {prefill[i]:R} became {actual[i]:R}.");
                    }
                }
            }
            Numerics.AssertClose(CrossEntropyReference.SubsBackward(b.Logits, b.Targets, b.Noisy, b.Weights, dloss, prefill, rows, vocab),
                actual, Numerics.Tolerance(vocab), context);
        }
    }

    /// <summary>
    /// The ILGPU SUBS kernels read the K = V − 1 real columns as whole 16-byte quads when V % 4 = 0 and the logits
    /// (and dlogits) views start on a quad (<see cref="IlgpuBackend.LastRowQuad"/>), the last 3 real columns as
    /// floats, never the NaN MASK column; else float by float. Vocabularies of 64 and 1,024 (quads) and 65 and 1,027
    /// (floats), views aligned at 0 and 4 floats and not at 1–3 (arena slices), targets in the first quad, in a quad's
    /// second lane and in the tail: loss poisoned with NaN, the MASK column, carry-over rows and everything outside the
    /// views left as they were.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestBackends.RowQuadCases), MemberType = typeof(TestBackends))]
    public void Ilgpu_quad_and_float_paths_match_the_reference_at_any_vocabulary_and_view_offset(string name, int vocab)
    {
        var backend = TestBackends.Get(name);
        const int rows = 4;
        int k = vocab - 1;
        int[][] offsets = [[0, 0], [4, 4], [1, 1], [0, 1], [3, 0], [2, 2]];
        foreach (var off in offsets)
        {
            var b = Batch.Random(vocab * 13 + off[0] * 5 + off[1], rows, vocab);
            int[] targets = [k - 1, 5, 0, b.Targets[3]];
            int[] noisyIds = [k, k, k, 0];
            b = b with { Targets = targets, Noisy = noisyIds };
            var rng = new Random(vocab + off[0]);
            var dloss = Numerics.RandomFloats(rng, rows);
            var prefill = Numerics.RandomFloats(rng, rows * vocab);
            using var logits = new SlicedBuffer(backend, b.Logits, off[0]);
            using var bt = backend.Upload<int>(b.Targets);
            using var noisy = backend.Upload<int>(b.Noisy);
            using var weights = backend.Upload<float>(b.Weights);
            using var bdloss = backend.Upload<float>(dloss);
            using var loss = Numerics.Poisoned(backend, rows);
            using var dlogits = new SlicedBuffer(backend, prefill, off[1]);
            string context = $"SubsCrossEntropyForward on {name}, vocab {vocab}, logits offset {off[0]}";
            backend.SubsCrossEntropyForward(logits.View, bt, noisy, weights, rows, vocab, loss);
            int quad = vocab % 4 == 0 && off[0] % 4 == 0 ? 1 : 0;
            Assert.True(quad == IlgpuBackend.LastRowQuad, $"{context}: quad flag {IlgpuBackend.LastRowQuad}, expected {quad}");
            Numerics.AssertClose(CrossEntropyReference.SubsForward(b.Logits, b.Targets, b.Noisy, b.Weights, rows, vocab),
                loss.ToArray(), Numerics.Tolerance(vocab), context);
            context = $"SubsCrossEntropyBackward on {name}, vocab {vocab}, offsets (logits {off[0]}, dlogits {off[1]})";
            backend.SubsCrossEntropyBackward(logits.View, bt, noisy, weights, bdloss, rows, vocab, dlogits.View);
            quad = vocab % 4 == 0 && off[0] % 4 == 0 && off[1] % 4 == 0 ? 1 : 0;
            Assert.True(quad == IlgpuBackend.LastRowQuad, $"{context}: quad flag {IlgpuBackend.LastRowQuad}, expected {quad}");
            var actual = dlogits.View.ToArray();
            for (int r = 0; r < rows; r++)
            {
                for (int j = 0; j < vocab; j++)
                {
                    int i = r * vocab + j;
                    bool untouched = j == k || b.Noisy[r] != k;
                    if (untouched && BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(prefill[i]))
                    {
                        throw new XunitException($"{context}: ({r}, {j}) should be untouched: {prefill[i]:R} became {actual[i]:R}.");
                    }
                }
            }
            Numerics.AssertClose(CrossEntropyReference.SubsBackward(b.Logits, b.Targets, b.Noisy, b.Weights, dloss, prefill, rows, vocab),
                actual, Numerics.Tolerance(vocab), context);
            dlogits.AssertGuardsIntact(context);
            logits.AssertGuardsIntact(context);
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void Reference_backward_matches_finite_differences_of_the_reference_forward(int pick, int seed)
    {
        int vocab = Vocab(pick), rows = 4;
        var b = Batch.Random(seed, rows, vocab);
        for (int r = 0; r < rows; r++)
        {
            b.Logits[r * vocab + vocab - 1] = 1f; // finite, so the MASK column's numeric gradient is exactly 0
        }
        var dloss = Numerics.RandomFloats(new Random(seed), rows);
        double Loss(float[] l) =>
            CrossEntropyReference.SubsForward(l, b.Targets, b.Noisy, b.Weights, rows, vocab).Select((v, r) => v * dloss[r]).Sum();
        var analytic = CrossEntropyReference.SubsBackward(b.Logits, b.Targets, b.Noisy, b.Weights, dloss, new float[rows * vocab], rows, vocab);
        for (int i = 0; i < analytic.Length; i++)
        {
            double numeric = SoftmaxTests.CentralDifference(b.Logits, i, Loss);
            Assert.True(Math.Abs(numeric - analytic[i]) <= 1e-5 * (1 + Math.Abs(numeric)),
                $"seed {seed}, vocab {vocab}, index {i}: analytic {analytic[i]:R}, numeric {numeric:R}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Bad_token_ids_are_rejected_naming_the_row_and_value(string name)
    {
        var backend = TestBackends.Get(name);
        const int rows = 3, vocab = 5;
        using var logits = backend.Full(rows * vocab, 0f);
        using var weights = backend.Full(rows, 1f);
        using var loss = backend.Allocate<float>(rows);
        using var goodTargets = backend.Upload<int>([0, 3, 1]);
        using var goodNoisy = backend.Upload<int>([4, 2, 4]);
        using var badTarget = backend.Upload<int>([0, 4, 1]);   // 4 is MASK, not a real target
        using var badNoisy = backend.Upload<int>([4, 2, -1]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            backend.SubsCrossEntropyForward(logits, badTarget, goodNoisy, weights, rows, vocab, loss));
        Assert.Contains("targets[1] = 4", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            backend.SubsCrossEntropyBackward(logits, goodTargets, badNoisy, weights, loss, rows, vocab, logits));
        Assert.Contains("noisy[2] = -1", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            backend.SubsCrossEntropyForward(logits, goodTargets, goodNoisy, weights, rows, 1, loss));
        Assert.Contains("'vocab'", e.Message);
        var a = Assert.Throws<ArgumentException>(() =>
            backend.SubsCrossEntropyForward(logits, goodTargets, goodNoisy, weights, rows, vocab + 1, loss));
        Assert.Contains("'logits' has 15 elements but shape (rows 3, vocab 6) needs 18", a.Message);
        using var shortLoss = backend.Allocate<float>(2);
        a = Assert.Throws<ArgumentException>(() =>
            backend.SubsCrossEntropyForward(logits, goodTargets, goodNoisy, weights, rows, vocab, shortLoss));
        Assert.Contains("'loss' has 2 elements", a.Message);
    }
}
