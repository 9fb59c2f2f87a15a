using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class MatmulOpTests(ITestOutputHelper output)
{
    /// <summary>
    /// All four transpose combinations, with b sharing a's batch and with b a broadcast rank-2 weight, over
    /// batch dims () or (2, s) — tiny sizes: each gradient check runs the float64 reference once per input element.
    /// </summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(MatmulOp))]
    public void Matmul_gradient_matches_finite_differences_for_every_transpose_and_broadcast(SmallDim mDim, SmallDim kDim, SmallDim nDim, int seed)
    {
        int m = 1 + mDim % 4, k = 1 + kDim % 4, n = 1 + nDim % 4;
        int[] lead = (seed & 3) switch { 0 => [], 1 => [3], _ => [2, 1 + (seed >> 2 & 1)] };
        int batch = lead.Aggregate(1, (p, d) => p * d);
        double worst = 0;
        foreach (var backend in TestBackends.All)
        {
            foreach (bool broadcast in new[] { false, true })
            {
                foreach (bool ta in new[] { false, true })
                {
                    foreach (bool tb in new[] { false, true })
                    {
                        var rng = new Random(seed);
                        int bBatch = broadcast ? 1 : batch;
                        var a = Numerics.RandomFloats(rng, batch * m * k);
                        var b = Numerics.RandomFloats(rng, bBatch * k * n);
                        int[] aShape = [.. lead, ta ? k : m, ta ? m : k];
                        int[] bShape = broadcast ? [tb ? n : k, tb ? k : n] : [.. lead, tb ? n : k, tb ? k : n];
                        worst = Math.Max(worst, GradCheck.Run(backend, $"Matmul(tA={ta}, tB={tb}, broadcast={broadcast})", seed,
                            [a, b], [aShape, bShape], t => MatmulOp.Apply(t[0], t[1], ta, tb),
                            r => Reference(r[0], r[1], batch, m, n, k, ta, tb, broadcast)));
                    }
                }
            }
        }
        output.WriteLine($"MatmulOp worst relative gradient error {worst:E2}");
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Matmul_matches_a_hand_computed_product_and_gradients(string name)
    {
        var backend = TestBackends.Get(name);
        using var tape = Tape.Begin();
        var a = Tensor.FromArray(backend, [1f, 2f, 3f, 4f], 2, 2);
        var b = Tensor.FromArray(backend, [5f, 6f, 7f, 8f], 2, 2);
        a.RequiresGrad = b.RequiresGrad = true;
        var y = MatmulOp.Apply(a, b);
        Assert.Equal(new[] { 19f, 22f, 43f, 50f }, y.ToArray());
        y.Backward([1f, 0f, 0f, 1f]);
        // ∂a = ∂y·bᵀ, ∂b = aᵀ·∂y.
        Assert.Equal(new[] { 5f, 7f, 6f, 8f }, a.Grad!.ToArray());
        Assert.Equal(new[] { 1f, 3f, 2f, 4f }, b.Grad!.ToArray());
    }

    [Fact]
    public void Matmul_rejects_mismatched_shapes_naming_both()
    {
        var backend = TestBackends.Cpu;
        using var tape = Tape.Begin();
        var a = Tensor.Zeros(backend, new Shape(2, 3, 4));
        var e = Assert.Throws<ArgumentException>(() => MatmulOp.Apply(a, Tensor.Zeros(backend, new Shape(5, 6))));
        Assert.Contains("(2, 3, 4)", e.Message);
        Assert.Contains("(5, 6)", e.Message);
        e = Assert.Throws<ArgumentException>(() => MatmulOp.Apply(a, Tensor.Zeros(backend, new Shape(3, 4, 2))));
        Assert.Contains("(2, 3, 4)", e.Message);
        Assert.Contains("(3, 4, 2)", e.Message);
        e = Assert.Throws<ArgumentException>(() => MatmulOp.Apply(a, Tensor.Zeros(backend, new Shape(4))));
        Assert.Contains("(4)", e.Message);
        // Transposing a makes the inner dimension 3, which (3, 5) accepts.
        Assert.Equal(new Shape(2, 4, 5), MatmulOp.Apply(a, Tensor.Zeros(backend, new Shape(3, 5)), transposeA: true).Shape);
    }

    [Fact]
    public void Matmul_returns_the_pool_to_its_start_after_the_tape()
    {
        var backend = TestBackends.Cpu;
        var start = backend.PoolStatistics;
        using (var tape = Tape.Begin())
        {
            var a = Tensor.Full(backend, new Shape(2, 3, 4), 1f);
            var w = Tensor.Full(backend, new Shape(5, 3), 1f);
            a.RequiresGrad = w.RequiresGrad = true;
            var y = MatmulOp.Apply(a, w, transposeA: true, transposeB: true);
            y.Backward(new float[y.Shape.Elements]);
            a.ClearGrad();
            w.ClearGrad();
        }
        Assert.Equal(start.LiveBuffers, backend.PoolStatistics.LiveBuffers);
        Assert.Equal(start.LiveBytes, backend.PoolStatistics.LiveBytes);
    }

    /// <summary>float64 batched op(a)·op(b); b broadcast over the batch when <paramref name="broadcast"/>.</summary>
    internal static double[] Reference(double[] a, double[] b, int batch, int m, int n, int k, bool ta, bool tb, bool broadcast)
    {
        var y = new double[batch * m * n];
        for (int p = 0; p < batch; p++)
        {
            int ao = p * m * k, bo = broadcast ? 0 : p * k * n;
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int l = 0; l < k; l++)
                    {
                        s += a[ao + (ta ? l * m + i : i * k + l)] * b[bo + (tb ? j * k + l : l * n + j)];
                    }
                    y[(p * m + i) * n + j] = s;
                }
            }
        }
        return y;
    }
}
