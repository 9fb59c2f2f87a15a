using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Autograd.Tests;

public sealed class LayoutOpTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(ScaleOp))]
    public void Scale_gradient_matches_finite_differences(SmallDim n, int seed)
    {
        float alpha = (seed % 7) - 3.5f;
        foreach (var backend in TestBackends.All)
        {
            var x = Numerics.RandomFloats(new Random(seed), n);
            GradCheck.Run(backend, "Scale", seed, [x], [[n]], t => ScaleOp.Apply(t[0], alpha),
                r => r[0].Select(v => alpha * v).ToArray());
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(ReshapeOp))]
    public void Reshape_gradient_matches_finite_differences(SmallDim a, SmallDim b, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var x = Numerics.RandomFloats(new Random(seed), a * b);
            // Scale after the view so the gradient flows through a recorded op into the view's buffer.
            GradCheck.Run(backend, "Reshape", seed, [x], [[a, b]], t => ScaleOp.Apply(ReshapeOp.Apply(t[0], b, a), 2f),
                r => r[0].Select(v => 2 * v).ToArray());
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(TransposeOp))]
    public void Transpose_gradient_matches_finite_differences(SmallDim bDim, SmallDim tDim, SmallDim hDim, int seed)
    {
        // Finite differences cost one reference evaluation per element: keep the tensor to a few hundred elements.
        int b = 1 + bDim % 3, t = 1 + tDim % 9, h = 1 + hDim % 9, d = 1 + (seed & 3);
        foreach (var backend in TestBackends.All)
        {
            var x = Numerics.RandomFloats(new Random(seed), b * t * h * d);
            GradCheck.Run(backend, "Transpose", seed, [x], [[b, t, h, d]], ts => TransposeOp.Apply(ts[0], 1, 2),
                r => Swap(r[0], b, t, h, d));
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(ConcatOp))]
    [GradCheckOf(typeof(SliceOp))]
    public void Concat_and_slice_gradients_match_finite_differences(SmallDim rows, SmallDim c1, SmallDim c2, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var x1 = Numerics.RandomFloats(rng, rows * c1);
            var x2 = Numerics.RandomFloats(rng, rows * c2);
            int start = c1 / 2, length = (c1 + c2) / 2;
            GradCheck.Run(backend, "Concat+Slice", seed, [x1, x2], [[rows, c1], [rows, c2]],
                ts => SliceOp.Apply(ConcatOp.Apply(ts, 1), 1, start, length),
                r =>
                {
                    var y = new double[rows * length];
                    for (int i = 0; i < rows; i++)
                    {
                        for (int j = 0; j < length; j++)
                        {
                            int c = start + j;
                            y[i * length + j] = c < c1 ? r[0][i * c1 + c] : r[1][i * c2 + c - c1];
                        }
                    }
                    return y;
                });
        }
    }

    [Fact]
    public void Layout_ops_reject_bad_shapes_naming_them()
    {
        var backend = TestBackends.Cpu;
        using var tape = Tape.Begin();
        var x = Tensor.Zeros(backend, new Shape(2, 3));
        var y = Tensor.Zeros(backend, new Shape(3, 3));
        Assert.Contains("(2, 3)", Assert.Throws<ArgumentException>(() => ReshapeOp.Apply(x, 4, 2)).Message);
        var e = Assert.Throws<ArgumentException>(() => ConcatOp.Apply([x, y], 1));
        Assert.Contains("(2, 3) and (3, 3)", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SliceOp.Apply(x, 1, 2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => TransposeOp.Apply(x, 0, 2));
    }

    private static double[] Swap(double[] x, int b, int t, int h, int d)
    {
        var y = new double[x.Length];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++)
                for (int k = 0; k < h; k++)
                    for (int l = 0; l < d; l++)
                    {
                        y[((i * h + k) * t + j) * d + l] = x[((i * t + j) * h + k) * d + l];
                    }
        return y;
    }
}
