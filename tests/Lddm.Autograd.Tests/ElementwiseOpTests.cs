using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class ElementwiseOpTests(ITestOutputHelper output)
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(MulOp))]
    public void Mul_gradient_matches_finite_differences_with_and_without_broadcast(SmallDim rows, SmallDim cols, bool broadcast, int seed)
    {
        int r = OpDims.Clamp(rows, 9), c = OpDims.Clamp(cols, 17);
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var a = Numerics.RandomFloats(rng, r * c);
            var b = Numerics.RandomFloats(rng, broadcast ? c : r * c);
            int[] bShape = broadcast ? [c] : [r, c];
            double err = GradCheck.Run(backend, "Mul", seed, [a, b], [[r, c], bShape], t => MulOp.Apply(t[0], t[1]),
                v => v[0].Select((x, i) => x * v[1][i % v[1].Length]).ToArray());
            output.WriteLine($"MulOp {backend.Name} ({r},{c}) broadcast={broadcast}: max rel err {err:E2}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(SubOp))]
    public void Sub_gradient_matches_finite_differences_with_and_without_broadcast(SmallDim rows, SmallDim cols, bool broadcast, int seed)
    {
        int r = OpDims.Clamp(rows, 9), c = OpDims.Clamp(cols, 17);
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var a = Numerics.RandomFloats(rng, r * c);
            var b = Numerics.RandomFloats(rng, broadcast ? c : r * c);
            int[] bShape = broadcast ? [c] : [r, c];
            double err = GradCheck.Run(backend, "Sub", seed, [a, b], [[r, c], bShape], t => SubOp.Apply(t[0], t[1]),
                v => v[0].Select((x, i) => x - v[1][i % v[1].Length]).ToArray());
            output.WriteLine($"SubOp {backend.Name} ({r},{c}) broadcast={broadcast}: max rel err {err:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Mul_of_a_tensor_with_itself_gives_twice_x(string name)
    {
        var backend = TestBackends.Get(name);
        using var tape = Tape.Begin();
        var x = Tensor.FromArray(backend, [1f, -2f, 3f], 3);
        x.RequiresGrad = true;
        MulOp.Apply(x, x).Backward([1f, 1f, 1f]);
        Assert.Equal(new[] { 2f, -4f, 6f }, x.Grad!.ToArray());
    }

    [Fact]
    public void Mul_and_Sub_reject_a_b_that_is_not_a_trailing_shape_of_a()
    {
        using var tape = Tape.Begin();
        var a = Tensor.Zeros(TestBackends.Cpu, new Shape(2, 3, 4));
        var b = Tensor.Zeros(TestBackends.Cpu, new Shape(2, 3));
        foreach (var (op, apply) in new (string, Func<Tensor>)[] { ("MulOp", () => MulOp.Apply(a, b)), ("SubOp", () => SubOp.Apply(a, b)) })
        {
            var e = Assert.Throws<ArgumentException>(apply);
            Assert.Contains(op, e.Message);
            Assert.Contains("(2, 3)", e.Message);
            Assert.Contains("(2, 3, 4)", e.Message);
        }
    }
}
