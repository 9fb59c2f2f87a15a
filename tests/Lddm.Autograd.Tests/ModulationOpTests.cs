using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class ModulationOpTests(ITestOutputHelper output)
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(ModulateOp))]
    public void Modulate_gradient_matches_finite_differences(SmallDim batch, SmallDim tokens, SmallDim hidden, int seed)
    {
        int b = OpDims.Clamp(batch, 3), t = OpDims.Clamp(tokens, 9), h = OpDims.Clamp(hidden, 17);
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var x = Numerics.RandomFloats(rng, b * t * h);
            var shift = Numerics.RandomFloats(rng, b * h);
            var scale = Numerics.RandomFloats(rng, b * h);
            double err = GradCheck.Run(backend, "Modulate", seed, [x, shift, scale], [[b, t, h], [b, h], [b, h]],
                z => ModulateOp.Apply(z[0], z[1], z[2]),
                v => v[0].Select((u, i) => u * (1 + v[2][PerSequence(i, t, h)]) + v[1][PerSequence(i, t, h)]).ToArray());
            output.WriteLine($"ModulateOp {backend.Name} ({b},{t},{h}): max rel err {err:E2}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(GatedResidualOp))]
    public void GatedResidual_gradient_matches_finite_differences(SmallDim batch, SmallDim tokens, SmallDim hidden, int seed)
    {
        int b = OpDims.Clamp(batch, 3), t = OpDims.Clamp(tokens, 9), h = OpDims.Clamp(hidden, 17);
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var residual = Numerics.RandomFloats(rng, b * t * h);
            var gate = Numerics.RandomFloats(rng, b * h);
            var x = Numerics.RandomFloats(rng, b * t * h);
            double err = GradCheck.Run(backend, "GatedResidual", seed, [residual, gate, x], [[b, t, h], [b, h], [b, t, h]],
                z => GatedResidualOp.Apply(z[0], z[1], z[2]),
                v => v[0].Select((u, i) => u + v[1][PerSequence(i, t, h)] * v[2][i]).ToArray());
            output.WriteLine($"GatedResidualOp {backend.Name} ({b},{t},{h}): max rel err {err:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Shared_inputs_get_the_sum_of_both_gradients(string name)
    {
        var backend = TestBackends.Get(name);
        using var tape = Tape.Begin();
        // One sequence, two tokens, one channel.
        var x = Tensor.FromArray(backend, [2f, 3f], 1, 2, 1);
        x.RequiresGrad = true;
        var v = Tensor.FromArray(backend, [0.5f], 1, 1);
        v.RequiresGrad = true;
        // y = x·(1 + v) + v, then z = y + v·y: ∂z/∂y = 1 + v = 1.5.
        var y = ModulateOp.Apply(x, v, v);
        var z = GatedResidualOp.Apply(y, v, y);
        z.Backward([1f, 1f]);
        // ∂x = 1.5·(1 + v) = 2.25; ∂v = Σ_t y_t (gate) + Σ_t 1.5·(1 + x_t) (shift and scale) = (3.5 + 5) + 1.5·7 = 19.
        Assert.Equal(new[] { 2.25f, 2.25f }, x.Grad!.ToArray());
        Assert.Equal(19f, v.Grad!.ToArray()[0], 5);
    }

    [Fact]
    public void Modulation_ops_reject_a_vector_that_is_not_batch_by_hidden()
    {
        using var tape = Tape.Begin();
        var cpu = TestBackends.Cpu;
        var x = Tensor.Zeros(cpu, new Shape(2, 3, 4));
        var good = Tensor.Zeros(cpu, new Shape(2, 4));
        var bad = Tensor.Zeros(cpu, new Shape(3, 4));
        var e1 = Assert.Throws<ArgumentException>(() => ModulateOp.Apply(x, good, bad));
        Assert.Contains("ModulateOp", e1.Message);
        Assert.Contains("(3, 4)", e1.Message);
        Assert.Contains("(2, 3, 4)", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => GatedResidualOp.Apply(x, bad, x));
        Assert.Contains("GatedResidualOp", e2.Message);
        Assert.Contains("(3, 4)", e2.Message);
        var flat = Tensor.Zeros(cpu, new Shape(6, 4));
        var e3 = Assert.Throws<ArgumentException>(() => GatedResidualOp.Apply(flat, good, x));
        Assert.Contains("(6, 4)", e3.Message);
        Assert.Contains("(2, 3, 4)", e3.Message);
    }

    /// <summary>The (b, h) index of element i of a (B, T, H) tensor.</summary>
    private static int PerSequence(int i, int tokens, int hidden) => i / (tokens * hidden) * hidden + i % hidden;
}
