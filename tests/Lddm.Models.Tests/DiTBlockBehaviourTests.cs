using Lddm.Autograd;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Models.Tests;

/// <summary>Dropout wiring and input checks of <see cref="DiTBlock"/>.</summary>
public sealed class DiTBlockBehaviourTests
{
    private const int B = 2, T = 5, H = 8, Heads = 2, Cond = 4;

    [Fact]
    public void Dropout_acts_in_training_only_and_replays_from_its_seed()
    {
        var backend = TestBackends.Cpu;
        using var block = new DiTBlock(backend, new DiTBlockConfig(H, Heads, Cond, Dropout: 0.5f));
        block.Initialize(1);
        block.Modulation.Bias!.Load(Numerics.RandomFloats(new Random(2), 6 * H));
        var x = Numerics.RandomFloats(new Random(3), B * T * H);
        var c = Numerics.RandomFloats(new Random(4), B * Cond);

        float[] Run(DropoutRng? rng)
        {
            using var tape = Tape.Begin();
            return block.Forward(Tensor.FromArray(backend, x, B, T, H), Tensor.FromArray(backend, c, B, Cond), rng).ToArray();
        }

        var first = Run(new DropoutRng(9, 1));
        Assert.Equal(first, Run(new DropoutRng(9, 1)));
        Assert.NotEqual(first, Run(new DropoutRng(9, 2)));
        var e = Assert.Throws<InvalidOperationException>(() => Run(null));
        Assert.Contains(nameof(DropoutRng), e.Message, StringComparison.Ordinal);

        block.Eval();
        var eval = Run(null);
        Assert.Equal(eval, Run(new DropoutRng(9, 1)));
        Assert.NotEqual(first, eval);
    }

    [Fact]
    public void Mismatched_conditioning_is_rejected_with_both_shapes()
    {
        var backend = TestBackends.Cpu;
        using var block = new DiTBlock(backend, new DiTBlockConfig(H, Heads, Cond));
        using var tape = Tape.Begin();
        var x = Tensor.Zeros(backend, new Shape(B, T, H));
        var e = Assert.Throws<ArgumentException>(() => block.Forward(x, Tensor.Zeros(backend, new Shape(B, Cond + 1))));
        Assert.Contains("(2, 5, 8)", e.Message, StringComparison.Ordinal);
        Assert.Contains("(2, 5)", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => block.Forward(x, Tensor.Zeros(backend, new Shape(B + 1, Cond))));
        Assert.Contains("(3, 4)", e.Message, StringComparison.Ordinal);
    }
}
