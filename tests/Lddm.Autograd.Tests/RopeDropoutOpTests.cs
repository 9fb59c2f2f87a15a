using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class RopeDropoutOpTests(ITestOutputHelper output)
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(RopeOp))]
    public void Rope_gradient_matches_finite_differences(SmallDim batch, SmallDim heads, SmallDim tokens, SmallDim pairs, int seed)
    {
        int b = OpDims.Clamp(batch, 2), nh = OpDims.Clamp(heads, 3), t = OpDims.Clamp(tokens, 9), d = OpDims.Even(pairs, 4);
        float theta = seed % 2 == 0 ? 10000f : 500f;
        foreach (var backend in TestBackends.All)
        {
            var x = Numerics.RandomFloats(OpDims.InputRng(seed), b * nh * t * d);
            double err = GradCheck.Run(backend, "Rope", seed, [x], [[b, nh, t, d]], z => RopeOp.Apply(z[0], theta),
                v => Rope(v[0], t, d, theta));
            output.WriteLine($"RopeOp {backend.Name} ({b},{nh},{t},{d}) theta={theta}: max rel err {err:E2}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(DropoutOp))]
    public void Dropout_gradient_matches_finite_differences(SmallDim rows, SmallDim cols, int seed)
    {
        int r = OpDims.Clamp(rows, 9), c = OpDims.Clamp(cols, 17);
        float p = 0.1f + 0.1f * Math.Abs(seed % 7);
        ulong s = (ulong)seed, stream = 3;
        long offset = Math.Abs(seed % 1000);
        var keep = RngReference.DropoutMask(p, s, stream, offset, r * c);
        double scale = 1f / (1f - p);
        foreach (var backend in TestBackends.All)
        {
            var x = Numerics.RandomFloats(OpDims.InputRng(seed), r * c);
            double err = GradCheck.Run(backend, "Dropout", seed, [x], [[r, c]], z => DropoutOp.Apply(z[0], p, s, stream, offset),
                v => v[0].Select((u, i) => keep[i] ? u * scale : 0).ToArray());
            output.WriteLine($"DropoutOp {backend.Name} ({r},{c}) p={p}: max rel err {err:E2}");
        }
    }

    [Fact]
    public void Dropout_with_p_zero_is_the_identity_and_records_nothing()
    {
        using var tape = Tape.Begin();
        var x = Tensor.Zeros(TestBackends.Cpu, new Shape(2, 3));
        x.RequiresGrad = true;
        Assert.Same(x, DropoutOp.Apply(x, 0f, 1, 2, 0));
        Assert.Equal(0, tape.Count);
    }

    [Fact]
    public void Rope_and_Dropout_reject_bad_shapes_and_arguments()
    {
        using var tape = Tape.Begin();
        var cpu = TestBackends.Cpu;
        var odd = Tensor.Zeros(cpu, new Shape(1, 2, 3, 5));
        var e1 = Assert.Throws<ArgumentException>(() => RopeOp.Apply(odd));
        Assert.Contains("RopeOp", e1.Message);
        Assert.Contains("(1, 2, 3, 5)", e1.Message);
        var flat = Tensor.Zeros(cpu, new Shape(3, 4));
        var e2 = Assert.Throws<ArgumentException>(() => RopeOp.Apply(flat));
        Assert.Contains("(3, 4)", e2.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => RopeOp.Apply(Tensor.Zeros(cpu, new Shape(1, 1, 2, 4)), 1f));
        var e3 = Assert.Throws<ArgumentOutOfRangeException>(() => DropoutOp.Apply(flat, 1f, 0, 0, 0));
        Assert.Contains("DropoutOp", e3.Message);
        Assert.Contains("(3, 4)", e3.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => DropoutOp.Apply(flat, 0.5f, 0, 0, -1));
    }

    /// <summary>Float64 rotate_half RoPE over (…, T, D) with position = token index.</summary>
    private static double[] Rope(double[] x, int tokens, int headDim, double theta)
    {
        var y = new double[x.Length];
        int half = headDim / 2;
        for (int row = 0; row < x.Length / headDim; row++)
        {
            int t = row % tokens, o = row * headDim;
            for (int i = 0; i < half; i++)
            {
                double a = t * Math.Pow(theta, -2.0 * i / headDim), cos = Math.Cos(a), sin = Math.Sin(a);
                y[o + i] = x[o + i] * cos - x[o + i + half] * sin;
                y[o + i + half] = x[o + i + half] * cos + x[o + i] * sin;
            }
        }
        return y;
    }
}
