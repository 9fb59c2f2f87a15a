using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class ReductionOpTests(ITestOutputHelper output)
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(SumOp))]
    [GradCheckOf(typeof(MeanOp))]
    public void Sum_and_Mean_gradients_match_finite_differences(SmallDim rows, SmallDim cols, bool mean, int seed)
    {
        int r = OpDims.Clamp(rows, 9), c = OpDims.Clamp(cols, 17);
        foreach (var backend in TestBackends.All)
        {
            var x = Numerics.RandomFloats(OpDims.InputRng(seed), r * c);
            double err = GradCheck.Run(backend, mean ? "Mean" : "Sum", seed, [x], [[r, c]],
                z => mean ? MeanOp.Apply(z[0]) : SumOp.Apply(z[0]),
                v => [v[0].Sum() / (mean ? v[0].Length : 1)]);
            output.WriteLine($"{(mean ? "MeanOp" : "SumOp")} {backend.Name} ({r},{c}): max rel err {err:E2}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(MseOp))]
    public void Mse_gradient_matches_finite_differences_with_and_without_row_weights(SmallDim batch, SmallDim tokens,
        SmallDim hidden, bool weighted, bool targetNeedsGrad, int seed)
    {
        int b = OpDims.Clamp(batch, 3), t = OpDims.Clamp(tokens, 9), h = OpDims.Clamp(hidden, 17), rows = b * t;
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var p = Numerics.RandomFloats(rng, rows * h);
            var q = Numerics.RandomFloats(rng, rows * h);
            var w = Numerics.RandomFloats(rng, rows).Select(v => 1f + v).ToArray();
            float[][] inputs = weighted ? [p, q, w] : [p, q];
            int[][] shapes = weighted ? [[b, t, h], [b, t, h], [b, t]] : [[b, t, h], [b, t, h]];
            bool[] diff = weighted ? [true, targetNeedsGrad, true] : [true, targetNeedsGrad];
            double err = GradCheck.Run(backend, "Mse", seed, inputs, shapes,
                z => MseOp.Apply(z[0], z[1], weighted ? z[2] : null),
                v => [v[0].Select((x, i) => (weighted ? v[2][i / h] : 1) * (x - v[1][i]) * (x - v[1][i])).Sum() / v[0].Length],
                differentiable: diff);
            output.WriteLine($"MseOp {backend.Name} ({b},{t},{h}) weighted={weighted} dtarget={targetNeedsGrad}: max rel err {err:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Mse_frees_its_saved_tensors_and_feeds_a_scalar_loss_backward(string name)
    {
        var backend = TestBackends.Get(name);
        using var p = Tensor.FromArray(backend, [1f, 2f, 3f, 4f], 2, 2);
        using var q = Tensor.FromArray(backend, [0f, 2f, 3f, 2f], 2, 2);
        using var w = Tensor.FromArray(backend, [1f, 0.5f], 2);
        p.RequiresGrad = true;
        var start = backend.PoolStatistics;
        using (var tape = Tape.Begin())
        {
            var loss = MseOp.Apply(p, q, w);
            Assert.Equal((1f + 0.5f * 4f) / 4f, loss.Item(), 6);
            loss.Backward();
            // ∂p = (2/4)·w_r·(p − q).
            Assert.Equal(new[] { 0.5f, 0f, 0f, 0.5f }, p.Grad!.ToArray());
            p.ClearGrad();
        }
        using (MseOp.Apply(p, q, w))
        {
            // Not recorded: the saved difference and row sums are already gone.
        }
        Assert.Equal(start.LiveBuffers, backend.PoolStatistics.LiveBuffers);
        Assert.Equal(start.LiveBytes, backend.PoolStatistics.LiveBytes);
    }

    [Fact]
    public void Mse_rejects_mismatched_targets_and_weights_and_Mean_an_empty_tensor()
    {
        using var tape = Tape.Begin();
        var cpu = TestBackends.Cpu;
        var p = Tensor.Zeros(cpu, new Shape(2, 3, 4));
        var e1 = Assert.Throws<ArgumentException>(() => MseOp.Apply(p, Tensor.Zeros(cpu, new Shape(2, 12))));
        Assert.Contains("MseOp", e1.Message);
        Assert.Contains("(2, 12)", e1.Message);
        Assert.Contains("(2, 3, 4)", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => MseOp.Apply(p, p, Tensor.Zeros(cpu, new Shape(2))));
        Assert.Contains("rowWeights", e2.Message);
        Assert.Contains("(2)", e2.Message);
        Assert.Contains("(2, 3, 4)", e2.Message);
        Assert.Equal(0f, MseOp.Apply(p, p, Tensor.Zeros(cpu, new Shape(6))).Item());
        var e3 = Assert.Throws<ArgumentException>(() => MeanOp.Apply(Tensor.Zeros(cpu, new Shape(0))));
        Assert.Contains("MeanOp", e3.Message);
    }
}
