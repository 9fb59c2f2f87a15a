using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Models.Tests;

/// <summary>
/// <see cref="CausalTransformer"/>: the causal mask (a future token never changes an earlier position), the whole
/// network's output and parameter gradients against a float64 forward and its central differences, on both backends,
/// and config validation.
/// </summary>
public sealed class CausalTransformerTests(ITestOutputHelper output)
{
    private static readonly CausalConfig Tiny = new(Hidden: 8, Layers: 2, Heads: 2, Vocab: 5, MaxLength: 6);

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Changing_a_future_token_never_changes_earlier_logits(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        var config = new CausalConfig(Hidden: 16, Layers: 2, Heads: 2, Vocab: 7, MaxLength: 9);
        using var model = RandomModel(backend, config, 21);
        const int b = 2, t = 9;
        for (int trial = 0; trial < 4; trial++)
        {
            var rng = new Random(100 + trial);
            var tokens = Enumerable.Range(0, b * t).Select(_ => rng.Next(config.Vocab)).ToArray();
            int j = rng.Next(1, t);
            var changed = (int[])tokens.Clone();
            for (int s = 0; s < b; s++)
            {
                changed[s * t + j] = (tokens[s * t + j] + 1 + rng.Next(config.Vocab - 1)) % config.Vocab;
            }
            var before = Logits(model, tokens, b, t);
            var after = Logits(model, changed, b, t);
            int v = config.Vocab;
            for (int s = 0; s < b; s++)
            {
                for (int i = 0; i < j; i++)
                {
                    var x = before.AsSpan((s * t + i) * v, v).ToArray();
                    var y = after.AsSpan((s * t + i) * v, v).ToArray();
                    Assert.True(x.SequenceEqual(y),
                        $"{backendName}, trial {trial}: changing token {j} of sequence {s} changed the logits at earlier position {i}.");
                }
                // The test can fail: the changed position's own logits do move.
                Assert.False(before.AsSpan((s * t + j) * v, v).SequenceEqual(after.AsSpan((s * t + j) * v, v)),
                    $"{backendName}, trial {trial}: changing token {j} left its own logits unchanged.");
            }
        }
    }

    [Fact]
    public void Default_attention_stays_bidirectional()
    {
        var backend = TestBackends.Cpu;
        using var attn = new MultiHeadSelfAttention(backend, 8, 2);
        using var causal = new MultiHeadSelfAttention(backend, 8, 2, causal: true);
        attn.Initialize(4);
        causal.Initialize(4);
        Assert.False(attn.Causal);
        var rng = new Random(5);
        var x = Numerics.RandomFloats(rng, 1 * 4 * 8);
        var x2 = (float[])x.Clone();
        x2[3 * 8] += 1f; // the last position
        using var tape = Tape.Begin();
        float[] First(MultiHeadSelfAttention m, float[] input) => m.Forward(Tensor.FromArray(backend, input, 1, 4, 8)).ToArray()[..8];
        Assert.False(First(attn, x).SequenceEqual(First(attn, x2)), "bidirectional attention ignored a later position");
        Assert.True(First(causal, x).SequenceEqual(First(causal, x2)), "causal attention saw a later position");
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Logits_and_gradients_match_float64_finite_differences(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        const int b = 2, t = 5;
        var rng = new Random(31);
        var tokens = Enumerable.Range(0, b * t).Select(_ => rng.Next(Tiny.Vocab)).ToArray();
        var w = Numerics.RandomFloats(rng, b * t * Tiny.Vocab);
        using var model = RandomModel(backend, Tiny, 17);

        Dictionary<string, float[]> grads;
        float[] logits;
        using (var tape = Tape.Begin())
        {
            var y = model.Forward(IntTensor.FromArray(backend, tokens, b, t));
            logits = y.ToArray();
            y.Backward(w);
            grads = model.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter.Grad?.ToArray() ?? new float[np.Parameter.Shape.Elements]);
            model.ZeroGrad();
        }
        var p = model.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter.ToArray().Select(v => (double)v).ToArray());
        var reference = new CausalTransformerReference(Tiny);
        double[] Forward() => reference.Forward(tokens, b, t, p);
        Numerics.AssertClose(Forward(), logits, 1e-4, $"CausalTransformer forward on {backendName}");

        double worst = 0;
        foreach (var (name, values) in p)
        {
            var numeric = new double[values.Length];
            const double step = 1e-5;
            for (int j = 0; j < values.Length; j++)
            {
                double keep = values[j];
                values[j] = keep + step;
                double plus = ModelGradCheck.Dot(w, Forward());
                values[j] = keep - step;
                double minus = ModelGradCheck.Dot(w, Forward());
                values[j] = keep;
                numeric[j] = (plus - minus) / (2 * step);
            }
            worst = Math.Max(worst, ModelGradCheck.AssertGradClose(numeric, grads[name], 2e-3, $"d/d {name} on {backendName}"));
        }
        output.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0}: {1} parameters, max relative gradient error {2:E2}",
            backendName, model.ParameterCount, worst));
    }

    [Fact]
    public void Config_is_validated_and_presets_match_the_dit_sizes()
    {
        Assert.Throws<ArgumentException>(() => new CausalConfig(10, 2, 3, 5, 8));     // 10 % 3 ≠ 0
        Assert.Throws<ArgumentException>(() => new CausalConfig(6, 2, 2, 5, 8));      // head dim 3 is odd
        Assert.Throws<ArgumentOutOfRangeException>(() => new CausalConfig(8, 0, 2, 5, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CausalConfig(8, 2, 2, 1, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CausalConfig(8, 2, 2, 5, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CausalConfig(8, 2, 2, 5, 8, Dropout: 1f));
        // `with` skips the record's initialiser: Validate and the model's constructor re-check.
        var nan = Tiny with { Dropout = float.NaN };
        Assert.Throws<ArgumentOutOfRangeException>(nan.Validate);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CausalTransformer(TestBackends.Cpu, nan));
        foreach (var (causal, dit) in new[]
        {
            (CausalConfig.Tiny(30, 64), DiTConfig.Tiny(30, 64)),
            (CausalConfig.Small(30, 64), DiTConfig.Small(30, 64)),
            (CausalConfig.Base(30, 64), DiTConfig.Base(30, 64)),
        })
        {
            Assert.Equal((dit.Hidden, dit.Layers, dit.Heads, dit.Vocab, dit.MaxLength), (causal.Hidden, causal.Layers, causal.Heads, causal.Vocab, causal.MaxLength));
        }
        using var model = new CausalTransformer(TestBackends.Cpu, Tiny);
        using var tape = Tape.Begin();
        var tooLong = IntTensor.FromArray(TestBackends.Cpu, new int[Tiny.MaxLength + 1], 1, Tiny.MaxLength + 1);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(tooLong));
        Assert.Contains("T ≤ 6", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_fresh_model_predicts_uniform_logits()
    {
        using var model = new CausalTransformer(TestBackends.Cpu, Tiny);
        model.Initialize(3);
        using var tape = Tape.Begin();
        var logits = model.Forward(IntTensor.FromArray(TestBackends.Cpu, [1, 2, 3, 4], 1, 4)).ToArray();
        Assert.All(logits, v => Assert.Equal(0f, v));
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Keep_zero_acts_as_a_zero_input_embedding(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        using var model = RandomModel(backend, Tiny, 41);
        const int b = 2, t = 5, zeroId = 4;
        var table = model.Embed.Table.ToArray();
        Array.Clear(table, zeroId * Tiny.Hidden, Tiny.Hidden); // token 4's embedding row is now 0
        model.Embed.Table.Load(table);
        var rng = new Random(43);
        var tokens = Enumerable.Range(0, b * t).Select(_ => rng.Next(zeroId)).ToArray();
        var keep = Enumerable.Range(0, b * t).Select(_ => rng.Next(2) == 0 ? 0f : 1f).ToArray();
        keep[1] = 0f;
        var substituted = tokens.Select((id, i) => keep[i] == 0f ? zeroId : id).ToArray();
        using var tape = Tape.Begin();
        var masked = model.Hidden(IntTensor.FromArray(backend, tokens, b, t), Tensor.FromArray(backend, keep, b, t)).ToArray();
        var expected = model.Hidden(IntTensor.FromArray(backend, substituted, b, t)).ToArray();
        var plain = model.Hidden(IntTensor.FromArray(backend, tokens, b, t)).ToArray();
        Numerics.AssertClose([.. expected.Select(v => (double)v)], masked, 1e-6, $"keep on {backendName}");
        Assert.False(plain.SequenceEqual(masked), "keep = 0 changed nothing");
        var bad = Tensor.FromArray(backend, new float[b * (t - 1)], b, t - 1);
        Assert.Throws<ArgumentException>(() => model.Hidden(IntTensor.FromArray(backend, tokens, b, t), bad));
    }

    /// <summary>A model whose every parameter is random (LayerNorm gains near 1), so no path is trivially zero.</summary>
    private static CausalTransformer RandomModel(Backend backend, CausalConfig config, int seed)
    {
        var model = new CausalTransformer(backend, config);
        var rng = new Random(seed);
        foreach (var (name, parameter) in model.NamedParameters())
        {
            var values = Numerics.RandomFloats(rng, parameter.Shape.Elements, 0.5f);
            if (name.EndsWith("norm1.weight", StringComparison.Ordinal) || name.EndsWith("norm2.weight", StringComparison.Ordinal) || name == "norm.weight")
            {
                values = [.. values.Select(v => 1f + v * 0.5f)];
            }
            parameter.Load(values);
        }
        return model;
    }

    private static float[] Logits(CausalTransformer model, int[] tokens, int b, int t)
    {
        using var tape = Tape.Begin();
        return model.Forward(IntTensor.FromArray(model.Backend, tokens, b, t)).ToArray();
    }
}
