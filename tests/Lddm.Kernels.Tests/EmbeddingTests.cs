using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class EmbeddingTests
{
    private static int[] RandomIds(Random rng, int count, int vocab)
    {
        var ids = new int[count];
        for (int i = 0; i < count; i++)
        {
            ids[i] = rng.Next(vocab);
        }
        return ids;
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void EmbeddingForward_gathers_the_rows_of_the_reference(SmallDim anyCount, SmallDim vocab, Dim dim, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            int count = SoftmaxTests.SimulatorRows(backend, anyCount);
            var rng = new Random(seed);
            var ids = RandomIds(rng, count, vocab);
            var table = Numerics.RandomFloats(rng, vocab * dim);
            using var bids = backend.Upload<int>(ids);
            using var btable = backend.Upload<float>(table);
            using var y = Numerics.Poisoned(backend, count * dim);
            backend.EmbeddingForward(bids, btable, count, vocab, dim, y);
            Numerics.AssertClose(EmbeddingReference.Forward(ids, table, dim), y.ToArray(), 0,
                $"EmbeddingForward on {backend.Name}, seed {seed}, (count {count}, vocab {vocab}, dim {dim})");
        }
    }

    /// <summary>A vocabulary of 1–3 tokens over up to 200 positions: every row is hit many times.</summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void EmbeddingBackward_sums_every_repeat_of_an_id_into_prefilled_gradients(Dim anyCount, SmallDim dim, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            int count = backend.Kind == BackendKind.IlgpuCpu ? Math.Min(anyCount, 40) : anyCount;
            var rng = new Random(seed);
            int vocab = 1 + rng.Next(3);
            var ids = RandomIds(rng, count, vocab);
            var dy = Numerics.RandomFloats(rng, count * dim);
            var prefill = Numerics.RandomFloats(rng, vocab * dim);
            using var bids = backend.Upload<int>(ids);
            using var bdy = backend.Upload<float>(dy);
            using var dtable = backend.Upload<float>(prefill);
            backend.EmbeddingBackward(bids, bdy, count, vocab, dim, dtable);
            Numerics.AssertClose(EmbeddingReference.Backward(ids, dy, prefill, dim), dtable.ToArray(), Numerics.Tolerance(count),
                $"EmbeddingBackward on {backend.Name}, seed {seed}, (count {count}, vocab {vocab}, dim {dim})");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void Reference_backward_matches_finite_differences_of_the_reference_forward(SmallDim count, int seed)
    {
        var rng = new Random(seed);
        const int vocab = 4, dim = 3;
        var ids = RandomIds(rng, count, vocab);
        var table = Numerics.RandomFloats(rng, vocab * dim);
        var dy = Numerics.RandomFloats(rng, count * dim);
        double Loss(float[] t) => EmbeddingReference.Forward(ids, t, dim).Select((v, i) => v * dy[i]).Sum();
        var analytic = EmbeddingReference.Backward(ids, dy, new float[table.Length], dim);
        for (int i = 0; i < table.Length; i++)
        {
            double numeric = SoftmaxTests.CentralDifference(table, i, Loss);
            Assert.True(Math.Abs(numeric - analytic[i]) <= 1e-5 * (1 + Math.Abs(numeric)),
                $"seed {seed}, count {count}, index {i}: analytic {analytic[i]:R}, numeric {numeric:R}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Unknown_token_ids_and_bad_shapes_are_rejected_with_the_offending_value(string name)
    {
        var backend = TestBackends.Get(name);
        using var table = backend.Full(4 * 8, 1f);
        using var y = backend.Allocate<float>(3 * 8);
        using var bad = backend.Upload<int>([0, 4, 1]);
        using var negative = backend.Upload<int>([-2, 0, 1]);
        using var good = backend.Upload<int>([0, 3, 1]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.EmbeddingForward(bad, table, 3, 4, 8, y));
        Assert.Contains("ids[1] = 4 is an unknown token id", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.EmbeddingBackward(negative, y, 3, 4, 8, table));
        Assert.Contains("ids[0] = -2", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.EmbeddingForward(good, table, 3, 4, 0, y));
        Assert.Contains("'dim' must be positive", e.Message);
        var a = Assert.Throws<ArgumentException>(() => backend.EmbeddingForward(good, table, 3, 5, 8, y));
        Assert.Contains("'table' has 32 elements but shape (vocab 5, dim 8) needs 40", a.Message);
        a = Assert.Throws<ArgumentException>(() => backend.EmbeddingBackward(good, table, 3, 4, 8, table));
        Assert.Contains("'dy' has 32 elements but shape (count 3, dim 8) needs 24", a.Message);
    }
}
