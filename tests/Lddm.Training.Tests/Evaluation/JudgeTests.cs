using System.Diagnostics;
using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models;
using Lddm.Training.Ar;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Encoders;
using Lddm.Training.Evaluation;
using Lddm.Training.Optim;
using Lddm.Training.Runs;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Training.Tests.Evaluation;

/// <summary>
/// The AR judge (<see cref="ArModel"/>), the text metrics (<see cref="GenerativePerplexity"/>, <see cref="UnigramEntropy"/>)
/// and the frozen encoder (<see cref="FrozenHiddenEncoder"/>), each against a float64 computation from the definition.
/// </summary>
public sealed class JudgeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-judge-").FullName;

    private static TrainConfig ArConfig(int length) => new() { Model = "ar", Preset = "tiny", Length = length, Seed = 5 };

    [Fact]
    public void A_uniform_model_has_perplexity_equal_to_the_vocabulary_size()
    {
        const int k = 13, count = 5, length = 8;
        using var model = TrainingRun.Ar(TestBackends.Cpu, ArConfig(length), k);
        var rng = new Random(3);
        model.Model.Head.Weight.Load(new float[model.Model.Head.Weight.Shape.Elements]);
        model.Model.Head.Bias!.Load(new float[k + 1]);
        // Every other weight random: the hidden states are anything, the logits still all 0.
        model.Model.Embed.Table.Load(Numerics.RandomFloats(rng, model.Model.Embed.Table.Shape.Elements));
        var tokens = Enumerable.Range(0, count * length).Select(_ => rng.Next(k)).ToArray();

        // Float64 cross-entropy of K equal (zero) real logits: −log(e⁰ / Σ_{j<K} e⁰).
        double uniformCe = -Math.Log(Math.Exp(0) / Enumerable.Range(0, k).Sum(_ => Math.Exp(0)));
        var ppl = GenerativePerplexity.Evaluate(model.Model, tokens, count, length, batch: 2);
        Assert.Equal(Math.Exp(uniformCe), ppl.Perplexity, 1e-4);
        Assert.Equal(k, ppl.Perplexity, 1e-4);
        Assert.Equal((long)count * length, ppl.Tokens);

        using var tape = Tape.Begin();
        var loss = model.Loss(tokens, count, length, 1, 0, null);
        Assert.Equal(uniformCe, loss.NelboPerToken(), 1e-5);
        Assert.Equal(uniformCe, loss.Value.Item(), 1e-5);
    }

    [Fact]
    public void Generative_perplexity_aggregates_over_all_tokens_as_a_float64_hand_computation()
    {
        // Crafted judge: zero output weights and a random bias, so every position predicts q = softmax(bias[0..K)).
        const int k = 6, length = 8;
        using var model = TrainingRun.Ar(TestBackends.Cpu, ArConfig(length), k);
        var rng = new Random(9);
        model.Model.Head.Weight.Load(new float[model.Model.Head.Weight.Shape.Elements]);
        var bias = Numerics.RandomFloats(rng, k + 1, 3f);
        model.Model.Head.Bias!.Load(bias);
        double z = Enumerable.Range(0, k).Sum(j => Math.Exp(bias[j]));
        double Nll(int token) => -(bias[token] - Math.Log(z));
        int likely = Enumerable.Range(0, k).MaxBy(j => bias[j]), unlikely = Enumerable.Range(0, k).MinBy(j => bias[j]);
        // Sequences with very different NLLs: all-likely, all-unlikely, and random ones.
        var sequences = new List<int[]>
        {
            Enumerable.Repeat(likely, length).ToArray(),
            Enumerable.Repeat(unlikely, length).ToArray(),
        };
        for (int i = 0; i < 3; i++)
        {
            sequences.Add([.. Enumerable.Range(0, length).Select(_ => rng.Next(k))]);
        }
        var tokens = sequences.SelectMany(s => s).ToArray();
        double total = tokens.Sum(Nll);
        double expected = Math.Exp(total / tokens.Length);
        double meanOfPerSample = sequences.Average(s => Math.Exp(s.Sum(Nll) / length));

        var ppl = GenerativePerplexity.Evaluate(model.Model, tokens, sequences.Count, length, batch: 2);
        Assert.Equal(total, ppl.TotalNll, 1e-3);
        Assert.True(Math.Abs(ppl.Perplexity - expected) <= 1e-5 * expected, $"gen-PPL {ppl.Perplexity} vs float64 {expected}");
        Assert.True(Math.Abs(meanOfPerSample - expected) > 0.05 * expected,
            $"the crafted set should separate the two aggregations: {meanOfPerSample} vs {expected}");
        Assert.True(Math.Abs(ppl.MeanOfSequencePerplexities - meanOfPerSample) <= 1e-5 * meanOfPerSample);

        // The aggregation alone, with unequal lengths.
        var direct = GenerativePerplexity.FromSequences([2.0, 30.0, 7.5], [4, 10, 5]);
        Assert.Equal(Math.Exp(39.5 / 19), direct.Perplexity, 12);
        Assert.NotEqual((Math.Exp(0.5) + Math.Exp(3.0) + Math.Exp(1.5)) / 3, direct.Perplexity, 3);
        Assert.Throws<ArgumentException>(() => GenerativePerplexity.FromSequences([1.0], [1, 2]));
    }

    [Fact]
    public void Unigram_entropy_is_zero_for_a_constant_sequence_and_ln_v_for_a_uniform_one()
    {
        Assert.Equal(0.0, UnigramEntropy.OfSequence([3, 3, 3, 3, 3]));
        Assert.Equal(Math.Log(2), UnigramEntropy.OfSequence([0, 1, 0, 1]), 12);
        var pair = UnigramEntropy.Evaluate([5, 5, 5, 5, 1, 2, 1, 2], 2, 4);
        Assert.Equal(Math.Log(2) / 2, pair.Mean, 12);
        Assert.Equal(Math.Log(2) / 2, pair.StandardError, 12); // sd of {0, ln 2} is ln2/√2, /√2

        // Uniform i.i.d. sequences: the plug-in estimate is ln V − (V − 1)/(2n) + O(1/n²).
        const int v = 8, n = 2000, count = 60;
        var rng = new Random(17);
        var tokens = Enumerable.Range(0, count * n).Select(_ => rng.Next(v)).ToArray();
        var h = UnigramEntropy.Evaluate(tokens, count, n);
        double expected = Math.Log(v) - (v - 1) / (2.0 * n);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"uniform: {h.Mean:F6} ± {h.StandardError:F6}, expected {expected:F6}, ln V = {Math.Log(v):F6}"));
        Assert.True(Math.Abs(h.Mean - expected) <= 5 * h.StandardError, $"mean entropy {h.Mean} ± {h.StandardError}, expected {expected}");
        Assert.True(h.StandardError > 0);
    }

    [Fact]
    public void Ar_generation_gives_the_same_tokens_on_both_backends_and_never_bos()
    {
        const int k = 7, count = 3, length = 6;
        var results = new List<int[]>();
        foreach (var backend in TestBackends.All)
        {
            // A very small network: the ILGPU simulator runs every kernel thread by thread.
            using var model = RandomArModel(backend, k, length, 23, new CausalConfig(8, 1, 2, k + 1, length));
            var samples = model.Generate(count, length, steps: 4, seed: 99, temperature: 0.8f);
            Assert.Equal(length, samples.Nfe);
            Assert.All(samples.Tokens, t => Assert.InRange(t, 0, k - 1));
            results.Add(samples.Tokens);
            if (backend is Lddm.Kernels.Cpu.CpuBackend)
            {
                Assert.Equal(samples.Tokens, model.Generate(count, length, 4, 99, 0.8f).Tokens);
                Assert.NotEqual(samples.Tokens, model.Generate(count, length, 4, 100, 0.8f).Tokens);
            }
        }
        Assert.Equal(results[0], results[1]);
    }

    [Fact]
    public void Ar_generation_draws_from_the_model_conditional()
    {
        // A crafted judge (zero output weights, a random bias): every position is i.i.d. softmax(bias[0..K)), so the
        // empirical frequency of each token over count·length draws must match it (χ² goodness of fit).
        const int k = 5, count = 200, length = 4;
        using var model = TrainingRun.Ar(TestBackends.Cpu, ArConfig(length), k);
        model.Model.Head.Weight.Load(new float[model.Model.Head.Weight.Shape.Elements]);
        var bias = Numerics.RandomFloats(new Random(2), k + 1, 1.5f);
        bias[k] = 50f; // a huge BOS logit must be ignored
        model.Model.Head.Bias!.Load(bias);
        var tokens = model.Generate(count, length, 1, 7).Tokens;
        double z = Enumerable.Range(0, k).Sum(j => Math.Exp(bias[j]));
        double chi2 = 0;
        for (int j = 0; j < k; j++)
        {
            double e = tokens.Length * Math.Exp(bias[j]) / z;
            double o = tokens.Count(t => t == j);
            chi2 += (o - e) * (o - e) / e;
        }
        Assert.True(chi2 < 18.47, $"χ²(4) = {chi2:F2} ≥ 18.47 (p = 0.001)");
    }

    [Fact]
    public void A_short_ar_training_run_on_moby_dick_lowers_the_loss()
    {
        var config = ArConfig(32) with { Batch = 8 };
        var data = TextData.MobyDick(config.Length);
        var backend = TestBackends.Cpu;
        using var model = TrainingRun.Ar(backend, config, data.Vocabulary);
        using var optimizer = new AdamW(model.TrainableParameters, new AdamWConfig());
        var tokens = new int[config.Batch * config.Length];
        var losses = new List<double>();
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < 40; step++)
        {
            data.TrainBatch(config.Seed, step, config.Batch, tokens);
            using var tape = Tape.Begin();
            var loss = model.Loss(tokens, config.Batch, config.Length, config.Seed, step, null);
            loss.Value.Backward();
            losses.Add(loss.NelboPerToken());
            optimizer.Step(3e-3);
            model.Network.ZeroGrad();
        }
        double first = losses[0], last = losses.TakeLast(5).Average();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"K = {data.Vocabulary}, {model.Network.ParameterCount} parameters: loss {first:F3} (ln K = {Math.Log(data.Vocabulary):F3}) → {last:F3} in 40 steps, {clock.Elapsed.TotalSeconds:F1} s"));
        Assert.Equal(Math.Log(data.Vocabulary), first, 1e-4); // the fresh model is uniform
        Assert.True(last < first - 0.5, $"loss {first} → {last}");
    }

    [Fact]
    public void Frozen_encoder_loads_ema_weights_and_gives_unit_norm_pooled_patches()
    {
        var backend = TestBackends.Cpu;
        var config = ArConfig(16);
        int k = TrainingRun.Data(config).Vocabulary;
        string dir = Path.Combine(_dir, "ar");
        float[] emaEmbedding;
        using (var model = RandomArModel(backend, k, config.Length, 31))
        {
            using var ema = new Ema(model.Network.NamedParameters(), 0.9);
            emaEmbedding = model.Model.Embed.Table.ToArray();
            model.Model.Embed.Table.Load(Numerics.RandomFloats(new Random(1), emaEmbedding.Length)); // live ≠ EMA
            new CheckpointStore(dir).Save(model.Network, null, ema, new CheckpointStore.State(config.ToJson(), 1, 1, 1, config.Seed));
        }
        const int patches = 4, d = 8, b = 3;
        using var encoder = FrozenEncoders.LoadHidden(backend, dir, patches, d);
        Assert.False(encoder.Trainable);
        Assert.Equal(emaEmbedding, encoder.Model.Embed.Table.ToArray());

        var rng = new Random(4);
        var x0 = Enumerable.Range(0, b * config.Length).Select(_ => rng.Next(k)).ToArray();
        using var tape = Tape.Begin();
        var ids = IntTensor.FromArray(backend, x0, b, config.Length);
        var y = encoder.Encode(ids);
        Assert.Equal(new Shape(b, patches, d), y.Shape);
        Assert.False(y.RequiresGrad);
        // The encoder reads the layout the AR model was trained on: [BOS, x₀ … x_{L−2}].
        var shifted = IntTensor.FromArray(backend, ArModel.ShiftRight(x0, b, config.Length, k), b, config.Length);
        var hidden = encoder.Model.Hidden(shifted).ToArray();
        var got = y.ToArray();
        int h = encoder.Model.Config.Hidden, chunk = config.Length / patches;
        var expected = new double[b * patches * d];
        for (int s = 0; s < b; s++)
        {
            for (int p = 0; p < patches; p++)
            {
                var v = new double[d];
                for (int j = 0; j < d; j++)
                {
                    for (int i = 0; i < chunk; i++)
                    {
                        v[j] += hidden[((s * config.Length) + (p * chunk) + i) * h + j] / (double)chunk;
                    }
                }
                double norm = Math.Sqrt(v.Sum(e => e * e));
                for (int j = 0; j < d; j++)
                {
                    expected[((s * patches) + p) * d + j] = v[j] / norm;
                }
                double gotNorm = Math.Sqrt(got.AsSpan(((s * patches) + p) * d, d).ToArray().Sum(e => (double)e * e));
                Assert.Equal(1.0, gotNorm, 1e-5);
            }
        }
        Numerics.AssertClose(expected, got, 1e-5, "pooled, truncated, normalised hidden states");

        using var three = FrozenEncoders.LoadHidden(backend, dir, 3, d);
        var e = Assert.Throws<ArgumentException>(() => three.Encode(ids));
        Assert.Contains("multiple of the patch count P = 3", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => FrozenEncoders.LoadHidden(backend, dir, patches, h + 1));

        string mdlm = Path.Combine(_dir, "mdlm");
        using (var model = RandomArModel(backend, k, config.Length, 31))
        {
            new CheckpointStore(mdlm).Save(model.Network, null, null, new CheckpointStore.State((config with { Model = "mdlm" }).ToJson(), 1, 1, 0, 1));
        }
        var wrong = Assert.Throws<ArgumentException>(() => FrozenEncoders.LoadHidden(backend, mdlm, patches, d));
        Assert.Contains("autoregressive", wrong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_generation_sweep_scores_every_point_and_the_real_data_and_writes_the_report()
    {
        const int k = 6, length = 8, count = 4;
        var backend = TestBackends.Cpu;
        var small = new CausalConfig(8, 1, 2, k + 1, length);
        using var judge = RandomArModel(backend, k, length, 51, small);
        using var first = RandomArModel(backend, k, length, 52, small);
        using var second = RandomArModel(backend, k, length, 53, small);
        var rng = new Random(8);
        var real = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, length).Select(_ => rng.Next(k)).ToArray()).ToList();
        var log = new StringWriter();
        var result = GenerationSweep.Run(judge.Model, [new("a", first, length), new("b", second, length)], [1, 3], count, count, 77, 1f, real, log);

        Assert.Equal(2 * 2 * 2, result.Rows.Count);
        var expected = first.Generate(count, length, 1, 77).Tokens; // batch = count: one chunk with the sweep's seed
        var ppl = GenerativePerplexity.Evaluate(judge.Model, expected, count, length);
        var row = result.Rows.Single(r => r.Model == "a" && r.Steps == 1 && r.Metric == GenerationSweep.GenPpl);
        Assert.Equal(ppl.Perplexity, row.Mean, 12);
        Assert.Equal(length, row.Nfe);
        Assert.Equal(UnigramEntropy.Evaluate(expected, count, length).Mean,
            result.Rows.Single(r => r.Model == "a" && r.Steps == 1 && r.Metric == GenerationSweep.Entropy).Mean, 12);
        var realTokens = real.SelectMany(s => s).ToArray();
        Assert.Equal(GenerativePerplexity.Evaluate(judge.Model, realTokens, 3, length).Perplexity,
            result.ReferenceLines.Single(r => r.Metric == GenerationSweep.GenPpl).Value, 12);
        Assert.Contains("real data", log.ToString(), StringComparison.Ordinal);

        string prefix = Path.Combine(_dir, "sweep");
        Lddm.Training.Evaluation.SweepReport.Write(prefix, "test sweep", result.Rows, result.ReferenceLines);
        Lddm.Plots.SweepPlots.Write(prefix, "test sweep", result.Rows, result.ReferenceLines);
        Assert.Equal(result.Rows, Lddm.Training.Evaluation.SweepReport.ReadCsv(prefix + ".csv"));
        Assert.True(File.Exists(prefix + ".md") && File.Exists(prefix + ".png"));

        var tooLong = new SweepCandidate("long", first, length + 1);
        Assert.Throws<ArgumentException>(() => GenerationSweep.Run(judge.Model, [tooLong], [1], 1, 1, 1, 1f, [], TextWriter.Null));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A tiny AR model whose every parameter is random (same values on every backend for a seed).</summary>
    private static ArModel RandomArModel(Backend backend, int k, int length, int seed, CausalConfig? config = null)
    {
        var model = config is null ? TrainingRun.Ar(backend, ArConfig(length), k) : new ArModel(new CausalTransformer(backend, config));
        var rng = new Random(seed);
        foreach (var (_, parameter) in model.Network.NamedParameters())
        {
            parameter.Load(Numerics.RandomFloats(rng, parameter.Shape.Elements, 0.5f));
        }
        return model;
    }
}
