using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class GaussianOpTests(ITestOutputHelper output)
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(GaussianNoiseOp))]
    public void GaussianNoise_gradient_matches_finite_differences_and_eps_is_the_Philox_normal(SmallDim batch, SmallDim patches,
        SmallDim dim, int seed)
    {
        int b = OpDims.Clamp(batch, 3), p = OpDims.Clamp(patches, 4), d = OpDims.Clamp(dim, 17), per = p * d;
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var y0 = Numerics.RandomFloats(rng, b * per);
            var abar = Numerics.RandomFloats(rng, b);
            var sbar = Numerics.RandomFloats(rng, b);
            ulong key = (ulong)rng.NextInt64(), stream = (ulong)rng.Next();
            long offset = rng.Next(1000);
            var z = RngReference.Normal(key, stream, offset, b * per);
            Tensor? eps = null;
            double err = GradCheck.Run(backend, "GaussianNoise", seed, [y0], [[b, p, d]],
                t => GaussianNoiseOp.Apply(t[0], abar, sbar, key, stream, offset, out eps),
                v => v[0].Select((u, i) => abar[i / per] * u + sbar[i / per] * z[i]).ToArray());
            output.WriteLine($"GaussianNoiseOp {backend.Name} ({b},{p},{d}): max rel err {err:E2}");
        }
    }

    [Fact]
    public void GaussianNoise_returns_eps_without_gradient_equal_to_FillNormal()
    {
        var backend = TestBackends.Cpu;
        using var tape = Tape.Begin();
        var y0 = Tensor.Zeros(backend, new Shape(2, 3, 4));
        y0.RequiresGrad = true;
        var yt = GaussianNoiseOp.Apply(y0, [0.5f, 0.25f], [1f, 2f], 7, 3, 11, out var eps);
        using var fill = backend.Allocate<float>(24);
        backend.FillNormal(7, 3, 11, fill);
        Assert.Equal(fill.ToArray(), eps.ToArray());
        Assert.False(eps.RequiresGrad);
        Assert.Equal(y0.Shape, eps.Shape);
        Assert.Equal(y0.Shape, yt.Shape);
        // y0 = 0, so y_t = sbar[b]·eps exactly (one float product).
        var e = eps.ToArray();
        Assert.Equal(e.Select((v, i) => (i < 12 ? 1f : 2f) * v).ToArray(), yt.ToArray());
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(RowScaleOp))]
    public void RowScale_gradient_matches_finite_differences(SmallDim batch, SmallDim length, SmallDim hidden, bool flat, int seed)
    {
        int b = OpDims.Clamp(batch, 3), l = OpDims.Clamp(length, 5), h = OpDims.Clamp(hidden, 17);
        int[] scaleShape = flat ? [b] : [b, l];
        int per = flat ? l * h : h;
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var x = Numerics.RandomFloats(rng, b * l * h);
            var scale = Numerics.RandomFloats(rng, flat ? b : b * l);
            double err = GradCheck.Run(backend, "RowScale", seed, [x, scale], [[b, l, h], scaleShape],
                t => RowScaleOp.Apply(t[0], t[1]),
                v => v[0].Select((u, i) => v[1][i / per] * u).ToArray());
            output.WriteLine($"RowScaleOp {backend.Name} ({b},{l},{h}) scale ({string.Join(",", scaleShape)}): max rel err {err:E2}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(L2NormalizeOp))]
    public void L2Normalize_gradient_matches_finite_differences(SmallDim rows, SmallDim cols, int seed)
    {
        // cols ≥ 2: a one-element row normalises to sign(x), whose true gradient is 0 and whose float gradient is
        // pure rounding (|y| = |x|/√(x²) ≠ 1 by an ulp) scaled by 1/|x| — nothing a finite difference can judge.
        int r = OpDims.Clamp(rows, 6), c = 1 + OpDims.Clamp(cols, 16);
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var x = Numerics.RandomFloats(rng, r * c);
            double err = GradCheck.Run(backend, "L2Normalize", seed, [x], [[r, c]],
                t => L2NormalizeOp.Apply(t[0]),
                v => v[0].Select((u, i) => u / Math.Max(Norm(v[0], i / c, c), 1e-12)).ToArray());
            output.WriteLine($"L2NormalizeOp {backend.Name} ({r},{c}): max rel err {err:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void L2Normalize_of_a_zero_row_is_zero_with_gradient_dy_over_epsilon(string name)
    {
        var backend = TestBackends.Get(name);
        using var tape = Tape.Begin();
        var x = Tensor.Zeros(backend, new Shape(1, 3));
        x.RequiresGrad = true;
        var y = L2NormalizeOp.Apply(x, 0.5f);
        Assert.All(y.ToArray(), v => Assert.Equal(0f, v));
        var w = new[] { 1f, -2f, 3f };
        y.Backward(w);
        Assert.Equal(w.Select(v => v / 0.5f).ToArray(), x.Grad!.ToArray());
    }

    [Fact]
    public void Ops_return_the_pool_to_its_start_after_the_tape()
    {
        var backend = TestBackends.Cpu;
        var start = backend.PoolStatistics;
        using (var tape = Tape.Begin())
        {
            var x = Tensor.Full(backend, new Shape(2, 3, 4), 1f);
            var s = Tensor.Full(backend, new Shape(2, 3), 2f);
            x.RequiresGrad = s.RequiresGrad = true;
            var y = GaussianNoiseOp.Apply(x, [0.5f, 0.5f], [0.5f, 0.5f], 1, 2, 3, out _);
            var z = L2NormalizeOp.Apply(RowScaleOp.Apply(y, s));
            z.Backward(new float[z.Shape.Elements]);
            x.ClearGrad();
            s.ClearGrad();
        }
        Assert.Equal(start.LiveBuffers, backend.PoolStatistics.LiveBuffers);
        Assert.Equal(start.LiveBytes, backend.PoolStatistics.LiveBytes);
    }

    [Fact]
    public void Ops_reject_bad_inputs_naming_the_argument_and_shapes()
    {
        using var tape = Tape.Begin();
        var cpu = TestBackends.Cpu;
        var x = Tensor.Zeros(cpu, new Shape(2, 3, 4));
        var e = Assert.Throws<ArgumentException>(() => GaussianNoiseOp.Apply(x, [1f, 1f, 1f], [1f, 1f], 1, 2, 3, out _));
        Assert.Contains("GaussianNoiseOp: 'abar' has 3 values but y0 (2, 3, 4) needs one per sequence (2)", e.Message);
        e = Assert.Throws<ArgumentException>(() => GaussianNoiseOp.Apply(x, [1f, 1f], [1f], 1, 2, 3, out _));
        Assert.Contains("'sbar' has 1 values", e.Message);
        var bad = Tensor.Zeros(cpu, new Shape(3, 2));
        e = Assert.Throws<ArgumentException>(() => RowScaleOp.Apply(x, bad));
        Assert.Contains("RowScaleOp", e.Message);
        Assert.Contains("(3, 2)", e.Message);
        Assert.Contains("(2, 3, 4)", e.Message);
        var z = Assert.Throws<ArgumentOutOfRangeException>(() => L2NormalizeOp.Apply(x, 0f));
        Assert.Contains("L2NormalizeOp: 'epsilon' must be finite and positive but was 0", z.Message);
    }

    private static double Norm(double[] x, int row, int cols)
    {
        double s = 0;
        for (int c = 0; c < cols; c++)
        {
            s += x[row * cols + c] * x[row * cols + c];
        }
        return Math.Sqrt(s);
    }
}
