using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class EmbeddingOpTests(ITestOutputHelper output)
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(EmbeddingOp))]
    public void Embedding_gradient_matches_finite_differences_with_repeated_ids(SmallDim vocabDim, SmallDim dimDim, SmallDim lenDim, int seed)
    {
        int vocab = 1 + vocabDim % 6, dim = 1 + dimDim % 5, len = 1 + lenDim % 5;
        int[] idShape = (seed & 1) == 0 ? [len] : [2, len];
        var rng = new Random(seed);
        // More ids than rows is common here, so repeated ids (whose gradients must sum) are exercised.
        var ids = Enumerable.Range(0, idShape.Aggregate(1, (p, d) => p * d)).Select(_ => rng.Next(vocab)).ToArray();
        var table = Numerics.RandomFloats(rng, vocab * dim);
        double worst = 0;
        foreach (var backend in TestBackends.All)
        {
            worst = Math.Max(worst, GradCheck.Run(backend, "Embedding", seed, [table], [[vocab, dim]],
                t => EmbeddingOp.Apply(IntTensor.FromArray(backend, ids, idShape), t[0]),
                r => ids.SelectMany(id => r[0].Skip(id * dim).Take(dim)).ToArray()));
        }
        output.WriteLine($"EmbeddingOp worst relative gradient error {worst:E2}");
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Embedding_keeps_the_id_shape_and_rejects_unknown_ids(string name)
    {
        var backend = TestBackends.Get(name);
        using var tape = Tape.Begin();
        var table = Tensor.FromArray(backend, [1f, 2f, 3f, 4f, 5f, 6f], 3, 2);
        var y = EmbeddingOp.Apply(IntTensor.FromArray(backend, [2, 0, 2, 1], 2, 2), table);
        Assert.Equal(new Shape(2, 2, 2), y.Shape);
        Assert.Equal(new[] { 5f, 6f, 1f, 2f, 5f, 6f, 3f, 4f }, y.ToArray());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => EmbeddingOp.Apply(IntTensor.FromArray(backend, [0, 3], 2), table));
        Assert.Contains("ids[1] = 3", e.Message);
    }

    [Fact]
    public void Embedding_rejects_a_table_that_is_not_a_matrix_naming_both_shapes()
    {
        using var tape = Tape.Begin();
        var backend = TestBackends.Cpu;
        var ids = IntTensor.FromArray(backend, [0, 1, 0], 3);
        var e = Assert.Throws<ArgumentException>(() => EmbeddingOp.Apply(ids, Tensor.Zeros(backend, new Shape(2, 3, 4))));
        Assert.Contains("(2, 3, 4)", e.Message);
        Assert.Contains("(3)", e.Message);
    }
}
