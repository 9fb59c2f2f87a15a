using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Autograd.Tests;

public sealed class ArithmeticOpTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(AddOp))]
    public void Add_gradient_matches_finite_differences_with_and_without_broadcast(SmallDim rows, SmallDim cols, bool broadcast, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var a = Numerics.RandomFloats(rng, rows * cols);
            var b = Numerics.RandomFloats(rng, broadcast ? cols : rows * cols);
            int[] bShape = broadcast ? [cols] : [rows, cols];
            GradCheck.Run(backend, "Add", seed, [a, b], [[rows, cols], bShape], t => AddOp.Apply(t[0], t[1]),
                r => r[0].Select((v, i) => v + r[1][i % r[1].Length]).ToArray());
        }
    }

    [Fact]
    public void Add_rejects_a_b_that_is_not_a_trailing_shape_of_a()
    {
        using var tape = Tape.Begin();
        var a = Tensor.Zeros(TestBackends.Cpu, new Shape(2, 3, 4));
        var b = Tensor.Zeros(TestBackends.Cpu, new Shape(3, 5));
        var e = Assert.Throws<ArgumentException>(() => AddOp.Apply(a, b));
        Assert.Contains("(3, 5)", e.Message);
        Assert.Contains("(2, 3, 4)", e.Message);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Fan_out_sums_the_gradients_of_every_use(string name)
    {
        var backend = TestBackends.Get(name);
        using var tape = Tape.Begin();
        var x = Tensor.FromArray(backend, [1f, 2f], 2);
        x.RequiresGrad = true;
        // y = 2x + 3x + x = 6x, through three uses of x.
        var y = AddOp.Apply(AddOp.Apply(ScaleOp.Apply(x, 2f), ScaleOp.Apply(x, 3f)), x);
        y.Backward([1f, -1f]);
        Assert.Equal(new[] { 6f, -6f }, x.Grad!.ToArray());
    }
}
