using FsCheck.Xunit;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Autograd.Tests;

/// <summary>
/// Transpose, slice and reshape as strided views: random chains of them against the same chain done with
/// contiguous copies in plain index arithmetic (values and the gradient's adjoint, exactly), a view read by two
/// consumers (one reading strides, one materialising), and the view's lifetime rules.
/// </summary>
public sealed class ViewOpTests
{
    /// <summary>One step of a chain: the op on a tensor, and the same op on a row-major double array.</summary>
    private sealed record Step(string Name, Func<Tensor, Tensor> Op, Func<double[], int[], (double[] Values, int[] Shape)> Copy);

    private static Step RandomStep(Random rng, int[] shape)
    {
        int rank = shape.Length;
        switch (rng.Next(3))
        {
            case 0:
                int i = rng.Next(rank), j = rng.Next(rank);
                return new Step($"transpose({i},{j})", t => TransposeOp.Apply(t, i, j), (x, s) => Transpose(x, s, i, j));
            case 1:
                int axis = rng.Next(rank), start = rng.Next(shape[axis]), length = rng.Next(1, shape[axis] - start + 1);
                return new Step($"slice({axis},{start},{length})", t => SliceOp.Apply(t, axis, start, length),
                    (x, s) => Slice(x, s, axis, start, length));
            default:
                // Merge two neighbouring axes, or split one into a divisor and the rest.
                var dims = shape.ToList();
                int a = rng.Next(rank);
                if (rank > 1 && a + 1 < rank && rng.Next(2) == 0)
                {
                    dims[a] *= dims[a + 1];
                    dims.RemoveAt(a + 1);
                }
                else
                {
                    int[] divisors = [.. Enumerable.Range(1, dims[a]).Where(d => dims[a] % d == 0)];
                    int f = divisors[rng.Next(divisors.Length)];
                    dims[a] /= f;
                    dims.Insert(a, f);
                }
                int[] to = [.. dims];
                return new Step($"reshape({string.Join(",", to)})", t => ReshapeOp.Apply(t, to), (x, _) => (x, to));
        }
    }

    private static (double[], int[]) Transpose(double[] x, int[] shape, int i, int j)
    {
        int[] to = (int[])shape.Clone();
        (to[i], to[j]) = (to[j], to[i]);
        var y = new double[x.Length];
        for (int e = 0; e < y.Length; e++)
        {
            var idx = Unravel(e, to);
            (idx[i], idx[j]) = (idx[j], idx[i]);
            y[e] = x[Ravel(idx, shape)];
        }
        return (y, to);
    }

    private static (double[], int[]) Slice(double[] x, int[] shape, int axis, int start, int length)
    {
        int[] to = (int[])shape.Clone();
        to[axis] = length;
        var y = new double[to.Aggregate(1, (p, d) => p * d)];
        for (int e = 0; e < y.Length; e++)
        {
            var idx = Unravel(e, to);
            idx[axis] += start;
            y[e] = x[Ravel(idx, shape)];
        }
        return (y, to);
    }

    private static int[] Unravel(int e, int[] shape)
    {
        var idx = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            idx[d] = e % shape[d];
            e /= shape[d];
        }
        return idx;
    }

    private static int Ravel(int[] idx, int[] shape)
    {
        int e = 0;
        for (int d = 0; d < shape.Length; d++)
        {
            e = e * shape[d] + idx[d];
        }
        return e;
    }

    [Property(MaxTest = 40)]
    public void Random_view_chains_equal_contiguous_copies_in_value_and_gradient(int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int[] shape = [.. Enumerable.Range(0, rng.Next(1, 5)).Select(_ => rng.Next(1, 6))];
            int n = shape.Aggregate(1, (p, d) => p * d);
            var x0 = Numerics.RandomFloats(rng, n);
            // The same chain on the element indices gives each output element's source position: the adjoint.
            var values = x0.Select(v => (double)v).ToArray();
            var sources = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
            var s = shape;
            var steps = new List<Step>();
            for (int k = rng.Next(1, 6); k > 0; k--)
            {
                var step = RandomStep(rng, s);
                steps.Add(step);
                (values, _) = step.Copy(values, s);
                (sources, s) = step.Copy(sources, s);
            }
            string context = $"{backend.Name}, seed {seed}, shape ({string.Join(",", shape)}): {string.Join(" → ", steps.Select(st => st.Name))}";
            var g = Numerics.RandomFloats(rng, values.Length);

            using var tape = Tape.Begin();
            var x = Tensor.FromArray(backend, x0, shape);
            x.RequiresGrad = true;
            var y = steps.Aggregate(x, (t, st) => st.Op(t));
            Assert.True(y.Shape.ToArray().SequenceEqual(s), context);
            if (steps[^1].Name.StartsWith("transpose", StringComparison.Ordinal) || steps[^1].Name.StartsWith("slice", StringComparison.Ordinal))
            {
                Assert.True(y.IsView, $"{context}: a transpose or slice must be a view");
            }
            Numerics.AssertClose(values, y.ToArray(), 0, $"values, {context}");
            y.Backward(g);
            var expected = new double[n];
            for (int e = 0; e < g.Length; e++)
            {
                expected[(int)sources[e]] += g[e];
            }
            Numerics.AssertClose(expected, x.Grad!.ToArray(), 0, $"gradient, {context}");
        }
    }

    [Property(MaxTest = 8)]
    public void A_view_read_in_place_by_a_GEMM_and_materialised_by_another_op_accumulates_both_gradients(int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int batch = rng.Next(1, 3), k = rng.Next(1, 9), m = rng.Next(1, 9), n = rng.Next(1, 9);
            var x0 = Numerics.RandomFloats(rng, batch * k * m);
            var w0 = Numerics.RandomFloats(rng, k * n);
            var g1 = Numerics.RandomFloats(rng, batch * m * n);
            var g2 = Numerics.RandomFloats(rng, batch * m * k);
            string context = $"{backend.Name}, seed {seed}, ({batch}, {k}, {m}) · ({k}, {n})";

            // Through the view: x (batch, k, m) viewed as (batch, m, k).
            float[] viaView, gradViaView, product, productFlag;
            BackendCounters viewLaunches, flagLaunches;
            using (var tape = Tape.Begin())
            {
                var x = Tensor.FromArray(backend, x0, batch, k, m);
                x.RequiresGrad = true;
                var w = Tensor.FromArray(backend, w0, k, n);
                var before = backend.Counters;
                var v = TransposeOp.Apply(x, 1, 2);
                var y1 = MatmulOp.Apply(v, w);
                viewLaunches = backend.Counters - before;
                var y2 = ScaleOp.Apply(v, 2f);
                var both = ConcatOp.Apply([ReshapeOp.Apply(y1, batch * m * n), ReshapeOp.Apply(y2, batch * m * k)], 0);
                product = y1.ToArray();
                viaView = both.ToArray();
                both.Backward([.. g1, .. g2]);
                gradViaView = x.Grad!.ToArray();
            }
            using (var tape = Tape.Begin())
            {
                var x = Tensor.FromArray(backend, x0, batch, k, m);
                var w = Tensor.FromArray(backend, w0, k, n);
                var before = backend.Counters;
                productFlag = MatmulOp.Apply(x, w, transposeA: true).ToArray();
                flagLaunches = backend.Counters - before;
            }
            // The GEMM reads the view through its transpose flag: the same bits and no extra launch for a copy.
            Assert.Equal(productFlag, product);
            Assert.Equal(flagLaunches.Launches, viewLaunches.Launches);

            // Against the contiguous transposed copy as a leaf, its gradient transposed back.
            float[] gradCopy;
            var xt0 = new float[x0.Length];
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < m; j++)
                    {
                        xt0[(b * m + j) * k + i] = x0[(b * k + i) * m + j];
                    }
            using (var tape = Tape.Begin())
            {
                var xt = Tensor.FromArray(backend, xt0, batch, m, k);
                xt.RequiresGrad = true;
                var w = Tensor.FromArray(backend, w0, k, n);
                var both = ConcatOp.Apply([ReshapeOp.Apply(MatmulOp.Apply(xt, w), batch * m * n),
                    ReshapeOp.Apply(ScaleOp.Apply(xt, 2f), batch * m * k)], 0);
                Numerics.AssertClose(both.ToArray().Select(v => (double)v).ToArray(), viaView, 1e-5, $"values, {context}");
                both.Backward([.. g1, .. g2]);
                var gt = xt.Grad!.ToArray();
                gradCopy = new float[gt.Length];
                for (int b = 0; b < batch; b++)
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < m; j++)
                        {
                            gradCopy[(b * k + i) * m + j] = gt[(b * m + j) * k + i];
                        }
            }
            // Both consumers' gradients reach x: the GEMM's straight into x's gradient, the scale's through the view.
            Numerics.AssertClose(gradCopy.Select(v => (double)v).ToArray(), gradViaView, Numerics.Tolerance(n), $"gradient, {context}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void A_view_of_a_disposed_tensor_says_so_and_a_contiguous_view_shares_its_root(string name)
    {
        var backend = TestBackends.Get(name);
        var x = Tensor.FromArray(backend, [1, 2, 3, 4, 5, 6], 3, 2);
        using var rows = SliceOp.Apply(x, 0, 1, 2);
        using var column = SliceOp.Apply(x, 1, 1, 1);
        Assert.True(rows.IsView);
        Assert.Equal([3f, 4f, 5f, 6f], rows.ToArray());
        // The row slice is one run of x's buffer: a reshape of it stays a view.
        using var flat = ReshapeOp.Apply(rows, 4);
        Assert.True(flat.IsView);
        Assert.Equal([3f, 4f, 5f, 6f], flat.ToArray());
        x.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => column.ToArray());
        Assert.Contains("view's root", e.Message);
    }
}
