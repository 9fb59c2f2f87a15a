using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Models.Tests;

/// <summary>
/// The latent networks: <see cref="DiTEncoder"/> (§1.5: no time input, last P positions, optional unit-norm patches,
/// keep mask) and <see cref="LatentDiT"/> (§3.1), each against a float64 reference with gradients by central
/// differences, plus their config checks.
/// </summary>
public sealed class LatentNetworkTests(ITestOutputHelper output)
{
    private const int B = 2, L = 4, P = 2, D = 4, V = 5;

    private static DiTEncoderConfig Encoder(bool normalize = false) => new(8, 1, 2, 8, V, 6, P, D, normalize);

    private static LatentDiTConfig Prior(int layers = 1) => new(8, layers, 2, 8, P, D);

    private static int[] RandomTokens(Random rng, int n) => [.. Enumerable.Range(0, n).Select(_ => rng.Next(V))];

    private static float[] Encode(DiTEncoder encoder, int[] tokens, float[]? keep = null)
    {
        var backend = encoder.Backend;
        using var tape = Tape.Begin();
        var k = keep is null ? null : Tensor.FromArray(backend, keep, B, L);
        var y = encoder.Forward(IntTensor.FromArray(backend, tokens, B, L), k);
        Assert.Equal([B, P, D], y.Shape.ToArray());
        return y.ToArray();
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Encoder_matches_a_float64_reference_and_its_gradients(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        var config = Encoder();
        using var encoder = new DiTEncoder(backend, config);
        encoder.Initialize(1);
        ModelGradCheck.RandomizeZeroInit(encoder, 2);
        var tokens = RandomTokens(new Random(3), B * L);
        // The float input differenced here is the keep mask (B, L): fractional values, so it is a real scale.
        var keep = Numerics.RandomFloats(new Random(4), B * L).Select(v => 0.5f + (0.5f * v)).ToArray();
        double worst = ModelGradCheck.Run(backend, encoder, keep, [B, L],
            k => encoder.Forward(IntTensor.FromArray(backend, tokens, B, L), k),
            p => LatentNetworkReference.Encoder(config, tokens, B, p[ModelGradCheck.Input], p),
            seed: 5, context: $"DiTEncoder on {backendName}", entriesPerTensor: backendName == "cpu" ? 24 : 8);
        output.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0}: max relative gradient error {1:E2}", backendName, worst));
    }

    [Fact]
    public void Encoder_has_no_time_input_and_reads_the_last_patches()
    {
        var backend = TestBackends.Cpu;
        using var encoder = new DiTEncoder(backend, Encoder());
        encoder.Initialize(6); // the real init: the projection is Xavier, so a fresh encoder already carries information
        var rng = new Random(7);
        var tokens = RandomTokens(rng, B * L);
        var first = Encode(encoder, tokens);
        Assert.Contains(first, v => v != 0f);
        Assert.Equal(first, Encode(encoder, tokens)); // deterministic: nothing but the tokens goes in

        // A fresh encoder's blocks are the identity (adaLN-zero), so its latent is a function of the last P tokens:
        // changing sequence 1's last token moves sequence 1's latent only.
        var last = (int[])tokens.Clone();
        last[(2 * L) - 1] = (tokens[(2 * L) - 1] + 1) % V;
        var moved = Encode(encoder, last);
        Assert.Equal(first[..(P * D)], moved[..(P * D)]);
        Assert.NotEqual(first[(P * D)..], moved[(P * D)..]);

        // Once the blocks act, sequence 1's first token (outside the last P positions) reaches it through attention.
        ModelGradCheck.RandomizeZeroInit(encoder, 8);
        first = Encode(encoder, tokens);
        var other = (int[])tokens.Clone();
        other[L] = (tokens[L] + 1) % V;
        moved = Encode(encoder, other);
        Assert.Equal(first[..(P * D)], moved[..(P * D)]);
        Assert.NotEqual(first[(P * D)..], moved[(P * D)..]);
    }

    [Fact]
    public void Keep_zero_makes_the_output_independent_of_that_token()
    {
        var backend = TestBackends.Cpu;
        using var encoder = new DiTEncoder(backend, Encoder());
        encoder.Initialize(8);
        ModelGradCheck.RandomizeZeroInit(encoder, 9);
        var tokens = RandomTokens(new Random(10), B * L);
        var keep = Enumerable.Repeat(1f, B * L).ToArray();
        keep[1] = 0f; // sequence 0, position 1
        var baseline = Encode(encoder, tokens, keep);
        var other = (int[])tokens.Clone();
        other[1] = (tokens[1] + 2) % V;
        Assert.Equal(baseline, Encode(encoder, other, keep));
        // With the position kept, the same change does move the output.
        Assert.NotEqual(Encode(encoder, tokens), Encode(encoder, other));
    }

    [Fact]
    public void Normalized_encoder_outputs_unit_norm_patches()
    {
        var backend = TestBackends.Cpu;
        using var encoder = new DiTEncoder(backend, Encoder(normalize: true));
        encoder.Initialize(11);
        var y = Encode(encoder, RandomTokens(new Random(12), B * L));
        for (int patch = 0; patch < B * P; patch++)
        {
            double norm = Math.Sqrt(Enumerable.Range(0, D).Sum(j => (double)y[patch * D + j] * y[patch * D + j]));
            Assert.InRange(norm, 1 - 1e-5, 1 + 1e-5);
        }
    }

    [Fact]
    public void Encoder_rejects_bad_inputs()
    {
        var backend = TestBackends.Cpu;
        using var encoder = new DiTEncoder(backend, Encoder());
        using var tape = Tape.Begin();
        var e = Assert.Throws<ArgumentException>(() => encoder.Forward(IntTensor.FromArray(backend, new int[B], B, 1)));
        Assert.Contains("2 ≤ L ≤ 6", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() =>
            encoder.Forward(IntTensor.FromArray(backend, new int[B * L], B, L), Tensor.Zeros(backend, new Shape(B, L + 1))));
        Assert.Contains("(2, 4)", e.Message, StringComparison.Ordinal);
        Assert.Contains("(2, 5)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fresh_latent_dit_has_the_right_shape_and_predicts_zero()
    {
        var backend = TestBackends.Cpu;
        using var prior = new LatentDiT(backend, Prior(layers: 2));
        prior.Initialize(13);
        using var tape = Tape.Begin();
        var y = prior.Forward(Tensor.FromArray(backend, Numerics.RandomFloats(new Random(14), B * P * D), B, P, D), [0.2f, 0.7f]);
        Assert.Equal([B, P, D], y.Shape.ToArray());
        Assert.All(y.ToArray(), v => Assert.Equal(0f, v));
        var e = Assert.Throws<ArgumentException>(() => prior.Forward(Tensor.Zeros(backend, new Shape(B, P, D + 1)), [0f, 0f]));
        Assert.Contains("(2, 2, 4)", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Latent_dit_matches_a_float64_reference_and_its_gradients(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        var config = Prior();
        using var prior = new LatentDiT(backend, config);
        prior.Initialize(15);
        ModelGradCheck.RandomizeZeroInit(prior, 16);
        var latent = Numerics.RandomFloats(new Random(17), B * P * D);
        float[] t = [0.35f, 0.8f];
        double worst = ModelGradCheck.Run(backend, prior, latent, [B, P, D],
            y => prior.Forward(y, t),
            p => LatentNetworkReference.LatentDiT(config, p[ModelGradCheck.Input], t, p),
            seed: 18, context: $"LatentDiT on {backendName}", entriesPerTensor: backendName == "cpu" ? 24 : 8);
        output.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0}: max relative gradient error {1:E2}", backendName, worst));
    }

    [Fact]
    public void Configs_reject_bad_values_naming_the_field()
    {
        Assert.Contains("heads", Assert.Throws<ArgumentException>(() => new DiTEncoderConfig(10, 1, 4, 8, V, 6, P, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'Patches'", Assert.ThrowsAny<ArgumentException>(() => new DiTEncoderConfig(8, 1, 2, 8, V, 6, 7, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'PatchDim'", Assert.ThrowsAny<ArgumentException>(() => new DiTEncoderConfig(8, 1, 2, 8, V, 6, P, 0)).Message, StringComparison.Ordinal);
        Assert.Contains("'MaxLength'", Assert.ThrowsAny<ArgumentException>(() => new DiTEncoderConfig(8, 1, 2, 8, V, 0, P, D)).Message, StringComparison.Ordinal);
        Assert.Contains("heads", Assert.Throws<ArgumentException>(() => new LatentDiTConfig(12, 1, 5, 8, P, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'Patches'", Assert.ThrowsAny<ArgumentException>(() => new LatentDiTConfig(8, 1, 2, 8, 0, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'PatchDim'", Assert.ThrowsAny<ArgumentException>(() => new LatentDiTConfig(8, 1, 2, 8, P, -3)).Message, StringComparison.Ordinal);
        Assert.Contains("'Layers'", Assert.ThrowsAny<ArgumentException>(() => new LatentDiTConfig(8, 0, 2, 8, P, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'Dropout'", Assert.ThrowsAny<ArgumentException>(() => new LatentDiTConfig(8, 1, 2, 8, P, D, -0.1f)).Message, StringComparison.Ordinal);
        Assert.ThrowsAny<ArgumentException>(() => new DiTEncoder(TestBackends.Cpu, Encoder() with { Patches = 9 }));
        Assert.ThrowsAny<ArgumentException>(() => new LatentDiT(TestBackends.Cpu, Prior() with { PatchDim = 0 }));

        var enc = DiTEncoderConfig.From(DiTConfig.Tiny(V, 128), 1, 32, normalize: true);
        Assert.Equal((64, 4, 4, 32, V, 128, 1, 32, true),
            (enc.Hidden, enc.Layers, enc.Heads, enc.CondDim, enc.Vocab, enc.MaxLength, enc.Patches, enc.PatchDim, enc.Normalize));
        var prior = LatentDiTConfig.From(DiTConfig.Xxs(V, 128), 1, 32);
        Assert.Equal((32, 4, 2, 16, 1, 32), (prior.Hidden, prior.Layers, prior.Heads, prior.CondDim, prior.Patches, prior.PatchDim));
    }
}
