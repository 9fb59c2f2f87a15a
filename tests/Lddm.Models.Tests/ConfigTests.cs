using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Models.Tests;

/// <summary>Bad configuration values fail at construction with a message naming the value and what was expected.</summary>
public sealed class ConfigTests
{
    [Fact]
    public void Hidden_not_divisible_by_heads_is_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new DiTConfig(64, 4, 3, 32, 8, 8));
        Assert.Contains("'hidden' (64) must be divisible by 'heads' (3)", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => new DiTBlockConfig(12, 5, 4));
        Assert.Contains("(12)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Odd_head_dimension_is_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new DiTBlockConfig(12, 4, 4));
        Assert.Contains("must be even", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 4, 4, 32, 8, 8)]
    [InlineData(64, 0, 4, 32, 8, 8)]
    [InlineData(64, 4, 0, 32, 8, 8)]
    [InlineData(64, 4, 4, 0, 8, 8)]
    [InlineData(64, 4, 4, 32, 0, 8)]
    [InlineData(64, 4, 4, 32, 8, 0)]
    [InlineData(64, 4, 4, -1, 8, 8)]
    public void Zero_or_negative_sizes_are_rejected(int hidden, int layers, int heads, int cond, int vocab, int maxLength)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new DiTConfig(hidden, layers, heads, cond, vocab, maxLength));
        Assert.Contains("must be > 0 but was", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-0.1f)]
    [InlineData(1f)]
    [InlineData(1.5f)]
    [InlineData(float.NaN)]
    public void Dropout_outside_zero_one_is_rejected(float p)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DiTConfig(64, 4, 4, 32, 8, 8, p));
        Assert.Contains("'Dropout' must be in [0, 1)", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DiTBlockConfig(8, 2, 4, p));
    }

    [Fact]
    public void A_config_changed_with_with_is_checked_by_the_module_that_uses_it()
    {
        // A 'with' expression copies the record without running its constructor: the modules re-validate.
        var e = Assert.Throws<ArgumentException>(() => new DiT(TestBackends.Cpu, DiTConfig.Tiny(8, 8) with { Heads = 3 }));
        Assert.Contains("must be divisible by 'heads' (3)", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DiT(TestBackends.Cpu, DiTConfig.Tiny(8, 8) with { Dropout = 1f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DiTBlock(TestBackends.Cpu, new DiTBlockConfig(8, 2, 4) with { CondDim = 0 }));
    }

    [Fact]
    public void Modules_reject_bad_sizes()
    {
        var backend = TestBackends.Cpu;
        Assert.Throws<ArgumentOutOfRangeException>(() => new Linear(backend, 0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding(backend, 8, 0));
        Assert.Throws<ArgumentException>(() => new MultiHeadSelfAttention(backend, 10, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimestepEmbedding(backend, 0));
    }

    [Fact]
    public void Presets_are_valid_and_sized_as_documented()
    {
        Assert.Equal((64, 4, 4), Shape(DiTConfig.Tiny(9, 16)));
        Assert.Equal((128, 4, 4), Shape(DiTConfig.Small(9, 16)));
        Assert.Equal((256, 6, 4), Shape(DiTConfig.Base(9, 16)));

        static (int, int, int) Shape(DiTConfig c) => (c.Hidden, c.Layers, c.Heads);
    }
}
