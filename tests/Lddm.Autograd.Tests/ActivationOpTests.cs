using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class ActivationOpTests(ITestOutputHelper output)
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(BiasActivationOp))]
    public void BiasActivation_gradient_matches_finite_differences(SmallDim rows, SmallDim cols, int actIndex, bool withBias, int seed)
    {
        int r = OpDims.Clamp(rows, 9), c = OpDims.Clamp(cols, 17);
        var act = (Activation)(Math.Abs(actIndex % 3));
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var x = Numerics.RandomFloats(rng, r * c, 2f);
            var bias = Numerics.RandomFloats(rng, c);
            float[][] inputs = withBias ? [x, bias] : [x];
            int[][] shapes = withBias ? [[r, c], [c]] : [[r, c]];
            double err = GradCheck.Run(backend, $"BiasActivation {act}", seed, inputs, shapes,
                t => BiasActivationOp.Apply(t[0], withBias ? t[1] : null, act),
                v => v[0].Select((u, i) => ActivationReference.Apply(act, u + (withBias ? v[1][i % c] : 0))).ToArray());
            output.WriteLine($"BiasActivationOp {act} {backend.Name} ({r},{c}) bias={withBias}: max rel err {err:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void BiasActivation_gives_the_bias_its_gradient_when_x_needs_none(string name)
    {
        var backend = TestBackends.Get(name);
        using var tape = Tape.Begin();
        var x = Tensor.FromArray(backend, [1f, -1f, 2f, 0f], 2, 2);
        var bias = Tensor.FromArray(backend, [0f, 0f], 2);
        bias.RequiresGrad = true;
        var y = BiasActivationOp.Apply(x, bias, Activation.Identity);
        y.Backward([1f, 2f, 3f, 4f]);
        Assert.Null(x.Grad);
        Assert.Equal(new[] { 4f, 6f }, bias.Grad!.ToArray());
    }

    [Fact]
    public void BiasActivation_rejects_a_bias_that_is_not_the_last_axis()
    {
        using var tape = Tape.Begin();
        var x = Tensor.Zeros(TestBackends.Cpu, new Shape(2, 3, 4));
        var bias = Tensor.Zeros(TestBackends.Cpu, new Shape(3));
        var e = Assert.Throws<ArgumentException>(() => BiasActivationOp.Apply(x, bias, Activation.Silu));
        Assert.Contains("BiasActivationOp", e.Message);
        Assert.Contains("(3)", e.Message);
        Assert.Contains("(2, 3, 4)", e.Message);
    }
}

/// <summary>Maps FsCheck's SmallDim (≤ 40) into the small ranges the ILGPU simulator checks quickly.</summary>
internal static class OpDims
{
    /// <summary>
    /// The generator for a test's inputs. GradCheck draws its upstream gradient w from <c>new Random(seed)</c>;
    /// inputs from the same stream would make w proportional to x, and for LayerNorm ∂(w·LN(x))/∂x ∝ ε then
    /// vanishes, leaving float32 rounding as the whole "gradient".
    /// </summary>
    public static Random InputRng(int seed) => new(seed ^ 0x2545F491);

    public static int Clamp(int value, int max) => 1 + ((Math.Abs(value) - 1) % max + max) % max;

    /// <summary>An even dimension in [2, 2·maxPairs].</summary>
    public static int Even(int value, int maxPairs) => 2 * Clamp(value, maxPairs);
}
