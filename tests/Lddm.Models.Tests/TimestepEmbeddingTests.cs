using Lddm.Autograd;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Models.Tests;

/// <summary>The sinusoidal time features (§2.2: 128 cos + 128 sin, max period 10⁴, raw t) and the embedding's shape.</summary>
public sealed class TimestepEmbeddingTests
{
    [Fact]
    public void Features_are_cos_then_sin_of_t_times_geometric_frequencies()
    {
        var f = TimestepEmbedding.SinusoidalFeatures([0f, 0.75f]);
        Assert.Equal(2 * 256, f.Length);
        Assert.All(f.AsSpan(0, 128).ToArray(), v => Assert.Equal(1f, v));
        Assert.All(f.AsSpan(128, 128).ToArray(), v => Assert.Equal(0f, v));
        for (int i = 0; i < 128; i++)
        {
            double angle = 0.75 * Math.Pow(10_000, -i / 128.0);
            Assert.True(Math.Abs(Math.Cos(angle) - f[256 + i]) < 1e-6, $"cos feature {i}");
            Assert.True(Math.Abs(Math.Sin(angle) - f[256 + 128 + i]) < 1e-6, $"sin feature {i}");
        }
    }

    [Fact]
    public void Embedding_maps_a_batch_of_times_to_the_conditioning_size()
    {
        var backend = TestBackends.Cpu;
        using var embedding = new TimestepEmbedding(backend, 12);
        embedding.Initialize(1);
        using var tape = Tape.Begin();
        var c = embedding.Forward([0f, 0.5f, 1f]);
        Assert.Equal([3, 12], c.Shape.ToArray());
        Assert.Throws<ArgumentException>(() => embedding.Forward([float.NaN]));
        Assert.Throws<ArgumentException>(() => embedding.Forward([]));
    }
}
