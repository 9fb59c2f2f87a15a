using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class NormOpTests(ITestOutputHelper output)
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(LayerNormOp))]
    public void LayerNorm_gradient_matches_finite_differences(SmallDim rows, SmallDim cols, bool affine, bool xNeedsGrad, int seed)
    {
        // At least 3 columns: with 2, the unit-variance output is ±1 whatever x is, so ∂x exists only through ε and
        // the float32 cancellation in the analytic gradient dominates the check.
        int r = OpDims.Clamp(rows, 9), c = 2 + OpDims.Clamp(cols, 15);
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var x = Numerics.RandomFloats(rng, r * c, 2f);
            var gamma = Numerics.RandomFloats(rng, c);
            var beta = Numerics.RandomFloats(rng, c);
            float[][] inputs = affine ? [x, gamma, beta] : [x];
            int[][] shapes = affine ? [[r, c], [c], [c]] : [[r, c]];
            bool[] diff = affine ? [xNeedsGrad, true, true] : [true];
            double err = GradCheck.Run(backend, "LayerNorm", seed, inputs, shapes,
                t => LayerNormOp.Apply(t[0], affine ? t[1] : null, affine ? t[2] : null),
                v => LayerNormReference.Forward(v[0], affine ? v[1] : null, affine ? v[2] : null, r, c, 1e-5).Y,
                forwardTol: 5e-4, differentiable: diff);
            output.WriteLine($"LayerNormOp {backend.Name} ({r},{c}) affine={affine} dx={diff[0]}: max rel err {err:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void LayerNorm_frees_its_saved_statistics_with_the_tape_or_at_once_when_not_recorded(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = Tensor.FromArray(backend, [1f, 2f, 4f, 0f, -1f, 3f], 2, 3);
        x.RequiresGrad = true;
        var start = backend.PoolStatistics;
        using (var tape = Tape.Begin())
        {
            LayerNormOp.Apply(x, null, null).Backward(new float[6]);
            x.ClearGrad();
        }
        using (LayerNormOp.Apply(x, null, null))
        {
            // Outside a tape the caller owns the output; the statistics must already be gone.
        }
        using (var tape = Tape.Begin())
        using (Grad.Off())
        {
            LayerNormOp.Apply(x, null, null);
        }
        Assert.Equal(start.LiveBuffers, backend.PoolStatistics.LiveBuffers);
        Assert.Equal(start.LiveBytes, backend.PoolStatistics.LiveBytes);
    }

    [Fact]
    public void LayerNorm_rejects_a_gamma_of_the_wrong_length_and_a_bad_epsilon()
    {
        using var tape = Tape.Begin();
        var x = Tensor.Zeros(TestBackends.Cpu, new Shape(2, 5));
        var gamma = Tensor.Zeros(TestBackends.Cpu, new Shape(4));
        var e = Assert.Throws<ArgumentException>(() => LayerNormOp.Apply(x, gamma, null));
        Assert.Contains("LayerNormOp", e.Message);
        Assert.Contains("(4)", e.Message);
        Assert.Contains("(2, 5)", e.Message);
        var eps = Assert.Throws<ArgumentOutOfRangeException>(() => LayerNormOp.Apply(x, null, null, 0f));
        Assert.Contains("epsilon", eps.Message);
    }
}
