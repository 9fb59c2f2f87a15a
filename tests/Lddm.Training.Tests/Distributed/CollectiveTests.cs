using FsCheck;
using FsCheck.Xunit;
using Lddm.Autograd;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Distributed;
using Xunit;

namespace Lddm.Training.Tests.Distributed;

/// <summary>The in-process collective against float64 references, and the flat gradient all-reduce.</summary>
public sealed class CollectiveTests
{
    [Property(MaxTest = 30)]
    public void AllReduceSum_is_the_rank_ordered_sum_on_every_rank_and_close_to_the_float64_sum(PositiveInt ranks, PositiveInt length, int seed)
    {
        int k = 1 + (ranks.Get % 5), n = 1 + (length.Get % 300);
        {
            var inputs = Enumerable.Range(0, k).Select(r => RandomFloats(n, seed + r)).ToArray();
            var results = InProcessGroup.Run(k, c =>
            {
                var mine = (float[])inputs[c.Rank].Clone();
                c.AllReduceSum(mine);
                return mine;
            });
            for (int i = 0; i < n; i++)
            {
                float ordered = inputs[0][i];
                double exact = inputs[0][i];
                for (int r = 1; r < k; r++)
                {
                    ordered += inputs[r][i];
                    exact += inputs[r][i];
                }
                for (int r = 0; r < k; r++)
                {
                    Assert.Equal(ordered, results[r][i]); // same bits on every rank, fixed order
                }
                Assert.True(Math.Abs(results[0][i] - exact) <= 1e-6 * (1 + k * 4), $"element {i}: {results[0][i]} vs float64 {exact}");
            }
        }
    }

    [Fact]
    public void Broadcast_copies_the_roots_bytes_and_strings_to_every_rank()
    {
        var rng = new Random();
        int k = 3, root = rng.Next(k);
        var inputs = Enumerable.Range(0, k).Select(_ => RandomFloats(17, rng.Next())).ToArray();
        var results = InProcessGroup.Run(k, c =>
        {
            var mine = (float[])inputs[c.Rank].Clone();
            c.Broadcast(mine.AsSpan(), root);
            string text = c.Broadcast($"rank {c.Rank} ✓", root);
            return (mine, text);
        });
        foreach (var (values, text) in results)
        {
            Assert.Equal(inputs[root], values);
            Assert.Equal($"rank {root} ✓", text);
        }
    }

    [Fact]
    public void A_failing_rank_aborts_the_group_and_its_error_is_the_one_reported()
    {
        var e = Assert.Throws<InvalidDataException>(() => InProcessGroup.Run(3, c =>
        {
            if (c.Rank == 1)
            {
                throw new InvalidDataException("rank 1 broke");
            }
            c.Barrier(); // would wait forever for rank 1 without the abort
            return 0;
        }));
        Assert.Equal("rank 1 broke", e.Message);
    }

    [Fact]
    public void Gradients_become_their_mean_over_ranks_and_a_gradient_missing_on_one_rank_counts_as_zero()
    {
        var backend = TestBackends.Cpu;
        int n = 37;
        var grads = Enumerable.Range(0, 2).Select(r => RandomFloats(n, Environment.TickCount + r)).ToArray();
        var only0 = RandomFloats(5, Environment.TickCount + 7);
        var results = InProcessGroup.Run(2, c =>
        {
            using var a = new Parameter(backend, n);
            using var b = new Parameter(backend, 5);
            using var none = new Parameter(backend, 3);
            SetGradient(a, grads[c.Rank]);
            if (c.Rank == 0)
            {
                SetGradient(b, only0);
            }
            var reduce = new GradientAllReduce(c, [("a", a), ("b", b), ("none", none)]);
            var (loss, nelbo, stop) = reduce.Reduce(c.Rank + 1, 10 * (c.Rank + 1), stop: c.Rank == 1);
            return (A: a.Grad!.ToArray(), B: b.Grad!.ToArray(), NoneHasGrad: none.Grad is not null, loss, nelbo, stop);
        });
        foreach (var r in results)
        {
            for (int i = 0; i < n; i++)
            {
                Assert.Equal((grads[0][i] + grads[1][i]) * 0.5f, r.A[i]);
            }
            Assert.Equal(only0.Select(g => g * 0.5f), r.B);
            Assert.False(r.NoneHasGrad);
            Assert.Equal(1.5, r.loss, 6);
            Assert.Equal(15, r.nelbo, 5);
            Assert.True(r.stop); // one rank asked: every rank stops
        }
    }

    /// <summary>Gives <paramref name="p"/> the gradient <paramref name="g"/> through a backward of Σ g·p.</summary>
    private static void SetGradient(Parameter p, float[] g)
    {
        using var tape = Tape.Begin();
        ScaleOp.Apply(p, 1f).Backward(g);
    }

    private static float[] RandomFloats(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }
}
