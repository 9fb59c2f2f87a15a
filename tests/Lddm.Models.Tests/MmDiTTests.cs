using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Models.Tests;

/// <summary>
/// <see cref="MmDiT"/> (§2.2): shapes, zero-init heads, the joint attention coupling the two streams, separate
/// per-stream weights, a float64 reference of the forward and its gradients by central differences, config checks.
/// </summary>
public sealed class MmDiTTests(ITestOutputHelper output)
{
    private const int B = 2, L = 3, P = 2, D = 4, V = 5;

    /// <summary>h = 8, 2 heads, cond 8, one block: small enough for the simulator and the float64 differences.</summary>
    private static MmDiTConfig Tiny(int layers = 1) => new(8, layers, 2, 8, V, 6, P, D);

    private static int[] RandomTokens(Random rng, int n) => [.. Enumerable.Range(0, n).Select(_ => rng.Next(V))];

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Fresh_model_has_the_right_shapes_and_predicts_zero(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        using var model = new MmDiT(backend, Tiny(layers: 2));
        model.Initialize(1);
        var rng = new Random(2);
        using var tape = Tape.Begin();
        var result = model.Forward(IntTensor.FromArray(backend, RandomTokens(rng, B * L), B, L),
            Tensor.FromArray(backend, Numerics.RandomFloats(rng, B * P * D), B, P, D), [0.3f, 0.8f], [0.1f, 0.6f]);
        Assert.Equal([B, L, V], result.Logits.Shape.ToArray());
        Assert.Equal([B, P, D], result.Latent.Shape.ToArray());
        Assert.All(result.Logits.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(result.Latent.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Joint_attention_couples_the_streams_both_ways()
    {
        var backend = TestBackends.Cpu;
        using var model = new MmDiT(backend, Tiny(layers: 2));
        model.Initialize(3);
        ModelGradCheck.RandomizeZeroInit(model, 4);
        var rng = new Random(5);
        var tokens = RandomTokens(rng, B * L);
        var latent = Numerics.RandomFloats(rng, B * P * D);

        (float[] Logits, float[] Latent) Run(int[] x, float[] y)
        {
            using var tape = Tape.Begin();
            var r = model.Forward(IntTensor.FromArray(backend, x, B, L), Tensor.FromArray(backend, y, B, P, D), [0.4f, 0.4f], [0.7f, 0.7f]);
            return (r.Logits.ToArray(), r.Latent.ToArray());
        }

        var baseline = Run(tokens, latent);
        // Sequence 0's latent changes: sequence 0's logits move, sequence 1's do not (no leak across the batch).
        var otherLatent = (float[])latent.Clone();
        for (int i = 0; i < P * D; i++)
        {
            otherLatent[i] += 0.5f;
        }
        var moved = Run(tokens, otherLatent);
        Assert.True(MaxDiff(baseline.Logits, moved.Logits, 0, L * V) > 1e-4, "the latent does not reach the token logits");
        Assert.Equal(baseline.Logits[(L * V)..], moved.Logits[(L * V)..]);

        // Sequence 1's first token changes: sequence 1's latent output moves.
        var otherTokens = (int[])tokens.Clone();
        otherTokens[L] = (tokens[L] + 1) % V;
        var moved2 = Run(otherTokens, latent);
        Assert.True(MaxDiff(baseline.Latent, moved2.Latent, P * D, P * D) > 1e-4, "a token does not reach the latent output");
        Assert.Equal(baseline.Latent[..(P * D)], moved2.Latent[..(P * D)]);
    }

    [Fact]
    public void Each_stream_has_its_own_weights()
    {
        using var model = new MmDiT(TestBackends.Cpu, Tiny());
        model.Initialize(6);
        var names = model.NamedParameters().Select(np => np.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Equal(names.Count, model.Parameters().Distinct().Count());
        var block = model.Blocks[0];
        foreach (var (a, b) in new[]
        {
            (block.Tokens.Qkv.Weight, block.Latent.Qkv.Weight), (block.Tokens.Out.Weight, block.Latent.Out.Weight),
            (block.Tokens.Mlp.Fc1.Weight, block.Latent.Mlp.Fc1.Weight), (block.Tokens.Modulation.Weight, block.Latent.Modulation.Weight),
            (model.TimeX.Fc1.Weight, model.TimeY.Fc1.Weight),
        })
        {
            Assert.NotSame(a, b);
        }
        // Distinct init streams: the two streams start from different random weights.
        Assert.NotEqual(block.Tokens.Qkv.Weight.ToArray(), block.Latent.Qkv.Weight.ToArray());
        Assert.Contains("blocks.0.tokens.qkv.weight", names);
        Assert.Contains("blocks.0.latent.qkv.weight", names);

        const int h = 8, cond = 8;
        long stream = (h * 3 * h) + (h * h) + (h * 4 * h) + (4 * h) + (4 * h * h) + h + (cond * 6 * h) + (6 * h);
        long time = (256 * cond) + cond + (cond * cond) + cond;
        long expected = (V * h) + (D * 4 * h) + (4 * h) + (4 * h * h) + h + (2 * time) + (2 * stream)
            + (2 * ((cond * 2 * h) + (2 * h))) + (h * V) + V + (h * D) + D;
        Assert.Equal(expected, model.ParameterCount);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Forward_and_gradients_match_a_float64_reference(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        var config = Tiny();
        using var model = new MmDiT(backend, config);
        model.Initialize(7);
        ModelGradCheck.RandomizeZeroInit(model, 8);
        var rng = new Random(9);
        var tokens = RandomTokens(rng, B * L);
        var latent = Numerics.RandomFloats(rng, B * P * D);
        float[] tX = [0.25f, 0.9f], tY = [0.6f, 0.05f];
        double worst = ModelGradCheck.Run(backend, model, latent, [B, P, D],
            y =>
            {
                var r = model.Forward(IntTensor.FromArray(backend, tokens, B, L), y, tX, tY);
                return ConcatOp.Apply([ReshapeOp.Apply(r.Logits, B * L * V), ReshapeOp.Apply(r.Latent, B * P * D)], 0);
            },
            p => LatentNetworkReference.MmDiT(config, tokens, p[ModelGradCheck.Input], tX, tY, p),
            seed: 10, context: $"MmDiT on {backendName}", entriesPerTensor: backendName == "cpu" ? 24 : 8);
        output.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0}: max relative gradient error {1:E2}", backendName, worst));
    }

    [Fact]
    public void Dropout_acts_in_training_only()
    {
        var backend = TestBackends.Cpu;
        using var model = new MmDiT(backend, Tiny() with { Dropout = 0.5f });
        model.Initialize(11);
        ModelGradCheck.RandomizeZeroInit(model, 12);
        var rng = new Random(13);
        var tokens = RandomTokens(rng, B * L);
        var latent = Numerics.RandomFloats(rng, B * P * D);

        float[] Run(DropoutRng? dropout)
        {
            using var tape = Tape.Begin();
            var r = model.Forward(IntTensor.FromArray(backend, tokens, B, L), Tensor.FromArray(backend, latent, B, P, D), [0.5f, 0.5f], [0.5f, 0.5f], dropout);
            return [.. r.Logits.ToArray(), .. r.Latent.ToArray()];
        }

        var first = Run(new DropoutRng(1, 1));
        Assert.Equal(first, Run(new DropoutRng(1, 1)));
        Assert.NotEqual(first, Run(new DropoutRng(1, 2)));
        Assert.Throws<InvalidOperationException>(() => Run(null));
        model.Eval();
        Assert.Equal(Run(null), Run(new DropoutRng(1, 1)));
    }

    [Fact]
    public void Bad_inputs_are_rejected_with_the_shapes()
    {
        var backend = TestBackends.Cpu;
        using var model = new MmDiT(backend, Tiny());
        using var tape = Tape.Begin();
        var tokens = IntTensor.FromArray(backend, new int[B * L], B, L);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(tokens, Tensor.Zeros(backend, new Shape(B, P + 1, D)), [0f, 0f], [0f, 0f]));
        Assert.Contains("(2, 2, 4)", e.Message, StringComparison.Ordinal);
        Assert.Contains("(2, 3, 4)", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => model.Forward(tokens, Tensor.Zeros(backend, new Shape(B, P, D)), [0f, 0f], [0f]));
        Assert.Equal("tY", e.ParamName);
        e = Assert.Throws<ArgumentException>(() =>
            model.Forward(IntTensor.FromArray(backend, new int[B * 7], B, 7), Tensor.Zeros(backend, new Shape(B, P, D)), [0f, 0f], [0f, 0f]));
        Assert.Contains("L ≤ 6", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Config_rejects_bad_values_naming_the_field()
    {
        Assert.Contains("heads", Assert.Throws<ArgumentException>(() => new MmDiTConfig(10, 1, 4, 8, V, 6, P, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'Patches'", Assert.ThrowsAny<ArgumentException>(() => new MmDiTConfig(8, 1, 2, 8, V, 6, 7, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'Patches'", Assert.ThrowsAny<ArgumentException>(() => new MmDiTConfig(8, 1, 2, 8, V, 6, 0, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'PatchDim'", Assert.ThrowsAny<ArgumentException>(() => new MmDiTConfig(8, 1, 2, 8, V, 6, P, 0)).Message, StringComparison.Ordinal);
        Assert.Contains("'Layers'", Assert.ThrowsAny<ArgumentException>(() => new MmDiTConfig(8, 0, 2, 8, V, 6, P, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'Vocab'", Assert.ThrowsAny<ArgumentException>(() => new MmDiTConfig(8, 1, 2, 8, 0, 6, P, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'CondDim'", Assert.ThrowsAny<ArgumentException>(() => new MmDiTConfig(8, 1, 2, -1, V, 6, P, D)).Message, StringComparison.Ordinal);
        Assert.Contains("'Dropout'", Assert.ThrowsAny<ArgumentException>(() => new MmDiTConfig(8, 1, 2, 8, V, 6, P, D, 1f)).Message, StringComparison.Ordinal);
        // A `with` skips the record's constructor checks; the module re-validates.
        var bad = Tiny() with { Patches = 9 };
        Assert.ThrowsAny<ArgumentException>(() => new MmDiT(TestBackends.Cpu, bad));

        var from = MmDiTConfig.From(DiTConfig.Xxs(V, 128), 4, 32);
        Assert.Equal((32, 4, 2, 16, V, 128, 4, 32), (from.Hidden, from.Layers, from.Heads, from.CondDim, from.Vocab, from.MaxLength, from.Patches, from.PatchDim));
    }

    private static double MaxDiff(float[] a, float[] b, int start, int length) =>
        Enumerable.Range(start, length).Max(i => Math.Abs(a[i] - b[i]));
}
