using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels;
using Lddm.Kernels.Ilgpu;
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
    public void Host_checked_ids_give_the_same_rows_and_gradient_and_are_never_read_back()
    {
        int seed = Environment.TickCount;
        var rng = new Random(seed);
        int vocab = 1 + rng.Next(40), dim = 1 + rng.Next(17), count = 1 + rng.Next(vocab);
        // Distinct ids: the ILGPU scatter-add is atomic, so repeated ids would sum in a thread-dependent order and no
        // two runs need agree bit for bit, host-checked or not.
        var ids = Enumerable.Range(0, vocab).OrderBy(_ => rng.Next()).Take(count).ToArray();
        var table = Numerics.RandomFloats(rng, vocab * dim);
        var dy = Numerics.RandomFloats(rng, count * dim);
        using var counted = IlgpuBackend.CreateCpuSimulator(); // dedicated: parallel tests use the shared simulator
        foreach (var backend in TestBackends.All.Append(counted))
        {
            var (deviceChecked, readBack) = RowsAndGradient(backend, table, dim, dy, b => IntTensor.FromArray(b, ids, count));
            var (hostChecked, copies) = RowsAndGradient(backend, table, dim, dy, b => IntTensor.FromIds(b, ids, vocab, count));
            Assert.True(deviceChecked.SequenceEqual(hostChecked), $"{backend.Name}: host-checked ids changed the rows or gradient (seed {seed})");
            if (ReferenceEquals(backend, counted))
            {
                Assert.Equal(1, readBack.DeviceToHost); // the forward's check; the backward trusts the ids it checked
                Assert.Equal(new BackendCounters(copies.Launches, 0, copies.HostToDevice, 0), copies);
            }
        }
        // A bound looser than the table proves nothing: the op checks the ids itself, with its clear error.
        using var tape = Tape.Begin();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            EmbeddingOp.Apply(IntTensor.FromIds(TestBackends.IlgpuCpu, [0, vocab], vocab + 1, 2), Tensor.FromArray(TestBackends.IlgpuCpu, table, vocab, dim)));
        Assert.Contains($"ids[1] = {vocab}", e.Message);
    }

    /// <summary>The looked-up rows and ∂table (as one array) of one forward and backward, and the counters of both.</summary>
    private static (float[] Values, BackendCounters Copies) RowsAndGradient(Backend backend, float[] table, int dim, float[] dy,
        Func<Backend, IntTensor> ids)
    {
        using var tape = Tape.Begin();
        var t = Tensor.FromArray(backend, table, table.Length / dim, dim);
        t.RequiresGrad = true;
        var x = ids(backend);
        var before = backend.Counters;
        var y = EmbeddingOp.Apply(x, t);
        y.Backward(dy);
        var copies = backend.Counters - before;
        return ([.. y.ToArray(), .. t.Grad!.ToArray()], copies);
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
