using System.Text.Json.Nodes;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models;
using Lddm.Training.Ar;
using Lddm.Training.Checkpoints;
using Lddm.Training.Encoders;
using Lddm.Training.Engine;
using Lddm.Training.Fuji;
using Lddm.Training.Mdlm;
using Lddm.Training.Optim;
using Lddm.Training.Runs;
using Lddm.Training.Tests.Fuji;
using Xunit;

namespace Lddm.Training.Tests.Encoders;

/// <summary>
/// Frozen pretrained encoders outside the generator's budget: the MDLM encoder's pooling against float64 definitions,
/// and the SHA-256 pin (recorded, checked on load, refusing a missing or different encoder and a judge that is the
/// encoder); the encoder is absent from the trained parameters, the optimizer and the saved tensors.
/// </summary>
public sealed class FrozenEncoderTests : IDisposable
{
    private const int Length = 16;
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-frozen-").FullName;

    private static TrainConfig MdlmConfig(ulong seed) =>
        new TrainConfig { Model = "mdlm", Data = "sawtooth", Preset = "xxs", Length = Length, Seed = seed }.Validate();

    /// <summary>Saves a random MDLM (EMA ≠ live weights) as a Trainer checkpoint; returns the EMA values of its embedding.</summary>
    private static float[] SaveRandomMdlm(string dir, int seed)
    {
        var config = MdlmConfig((ulong)seed);
        using var model = TrainingRun.CreateModel(TestBackends.Cpu, config, TrainingRun.Data(config).Vocabulary);
        FujiTestModels.Randomize(model.Network, seed);
        using var ema = new Ema(model.TrainableParameters, 0.9);
        var dit = ((MdlmModel)model).Dit;
        float[] emaEmbedding = dit.Embed.Table.ToArray();
        dit.Embed.Table.Load(Numerics.RandomFloats(new Random(seed + 1), emaEmbedding.Length)); // live ≠ EMA
        new CheckpointStore(dir).Save(model.Network, null, ema, new CheckpointStore.State(config.ToJson(), 1, 1, 1, config.Seed));
        return emaEmbedding;
    }

    [Theory]
    [InlineData("chunk-mean", 4, 8)]
    [InlineData("chunk-mean", 1, 32)]
    [InlineData("per-token", Length, 5)]
    public void Frozen_mdlm_pools_the_last_hidden_states_at_t0_as_the_float64_definition(string pooling, int patches, int d)
    {
        var backend = TestBackends.Cpu;
        string dir = Path.Combine(_dir, "mdlm");
        float[] emaEmbedding = SaveRandomMdlm(dir, Environment.TickCount & 0xFFFF);
        using var encoder = FrozenEncoders.LoadMdlm(backend, dir, patches, d, pooling);
        Assert.False(encoder.Trainable);
        Assert.Equal(emaEmbedding, encoder.Model.Embed.Table.ToArray()); // the EMA weights, not the live ones
        int k = encoder.Vocabulary, b = 3, h = encoder.Model.Config.Hidden;

        var rng = new Random(Environment.TickCount);
        var x0 = Enumerable.Range(0, b * Length).Select(_ => rng.Next(k)).ToArray();
        var keep = Enumerable.Range(0, b * Length).Select(_ => rng.NextDouble() < 0.3 ? 0f : 1f).ToArray();
        using var tape = Tape.Begin();
        var ids = IntTensor.FromArray(backend, x0, b, Length);
        var y = encoder.Encode(ids);
        Assert.Equal(new Shape(b, patches, d), y.Shape);
        Assert.False(y.RequiresGrad);
        var hidden = encoder.Model.Hidden(ids, new float[b]).ToArray();
        Numerics.AssertClose(Pooled(hidden, b, h, patches, d), y.ToArray(), 1e-5, $"{pooling} pooled, truncated, normalised hidden states");

        // The hidden states are what the output projection reads: logits = Proj(hidden).
        var logits = encoder.Model.Forward(ids, new float[b]).ToArray();
        var w = encoder.Model.Final.Proj.Weight.ToArray();
        var bias = encoder.Model.Final.Proj.Bias!.ToArray();
        int v = encoder.Model.Config.Vocab;
        var expectedLogits = new double[b * Length * v];
        for (int i = 0; i < b * Length; i++)
        {
            for (int o = 0; o < v; o++)
            {
                double s = bias[o];
                for (int j = 0; j < h; j++)
                {
                    s += hidden[i * h + j] * (double)w[j * v + o];
                }
                expectedLogits[i * v + o] = s;
            }
        }
        Numerics.AssertClose(expectedLogits, logits, 1e-4, "logits = output projection of the hidden states");

        // Corruption: a dropped position reads MASK (id K), exactly as if x₀ had MASK there.
        var masked = x0.Select((t, i) => keep[i] == 0f ? k : t).ToArray();
        var withKeep = encoder.Encode(ids, Tensor.FromArray(backend, keep, b, Length)).ToArray();
        var maskedHidden = encoder.Model.Hidden(IntTensor.FromArray(backend, masked, b, Length), new float[b]).ToArray();
        Numerics.AssertClose(Pooled(maskedHidden, b, h, patches, d), withKeep, 1e-5, "keep = 0 → MASK");
        Assert.Throws<ArgumentException>(() => encoder.Encode(ids, Tensor.FromArray(backend, Enumerable.Repeat(0.5f, b * Length).ToArray(), b, Length)));
    }

    /// <summary>Float64: mean over chunks of L/P positions, the first d dims, unit norm.</summary>
    private static double[] Pooled(float[] hidden, int b, int h, int patches, int d)
    {
        int chunk = Length / patches;
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
                        v[j] += hidden[((s * Length) + (p * chunk) + i) * h + j] / (double)chunk;
                    }
                }
                double norm = Math.Sqrt(v.Sum(e => e * e));
                for (int j = 0; j < d; j++)
                {
                    expected[((s * patches) + p) * d + j] = v[j] / norm;
                }
            }
        }
        return expected;
    }

    [Fact]
    public void Frozen_ar_per_token_keeps_each_positions_hidden_state_truncated_and_normalised()
    {
        var backend = TestBackends.Cpu;
        var ar = new TrainConfig { Model = "ar", Data = "sawtooth", Preset = "xxs", Length = Length, Seed = 4 }.Validate();
        string dir = Path.Combine(_dir, "ar");
        using (var model = TrainingRun.CreateModel(backend, ar, 2))
        {
            FujiTestModels.Randomize(model.Network, Environment.TickCount & 0xFFFF);
            new CheckpointStore(dir).Save(model.Network, null, null, new CheckpointStore.State(ar.ToJson(), 1, 1, 0, 1));
        }
        const int b = 2, d = 6;
        using var encoder = FrozenEncoders.LoadHidden(backend, dir, Length, d, "per-token");
        var rng = new Random(Environment.TickCount);
        var x0 = Enumerable.Range(0, b * Length).Select(_ => rng.Next(2)).ToArray();
        using var tape = Tape.Begin();
        var y = encoder.Encode(IntTensor.FromArray(backend, x0, b, Length));
        var hidden = encoder.Model.Hidden(IntTensor.FromArray(backend, ArModel.ShiftRight(x0, b, Length, 2), b, Length)).ToArray();
        Numerics.AssertClose(Pooled(hidden, b, encoder.Model.Config.Hidden, Length, d), y.ToArray(), 1e-5, "per-token latents");
        using var wrong = FrozenEncoders.LoadHidden(backend, dir, Length / 2, d, "per-token");
        var e = Assert.Throws<ArgumentException>(() => wrong.Encode(IntTensor.FromArray(backend, x0, b, Length)));
        Assert.Contains("per-token", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Per_token_pooling_needs_one_patch_per_position_and_a_frozen_hidden_encoder()
    {
        var bad = Assert.Throws<ArgumentException>(() => new TrainConfig
        { Model = "fuji", Encoder = "frozen-mdlm", EncoderCheckpoint = "x", EncoderPooling = "per-token", Length = Length, LatentPatches = 4 }.Validate());
        Assert.Contains("latent_patches", bad.Message, StringComparison.Ordinal);
        var learned = Assert.Throws<ArgumentException>(() => new TrainConfig
        { Model = "fuji", EncoderPooling = "per-token", Length = Length, LatentPatches = Length }.Validate());
        Assert.Contains("encoder_pooling", learned.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new TrainConfig { EncoderSha256 = "abc" }.Validate());
    }

    private TrainConfig Generator(string encoderDir, string encoder = "frozen-mdlm") => new TrainConfig
    {
        Model = "fuji",
        Data = "sawtooth",
        Preset = "xxs",
        Length = Length,
        Batch = 4,
        Steps = 3,
        EvalEvery = 0,
        EvalSequences = 4,
        CheckpointEvery = 0,
        WarmupSteps = 0,
        LatentPatches = 4,
        LatentDim = 8,
        Seed = 3,
        Encoder = encoder,
        EncoderCheckpoint = encoderDir,
        WeightDecay = 0.1,
    }.Validate();

    [Fact]
    public void A_generator_pins_its_frozen_encoder_by_hash_and_never_trains_or_saves_it()
    {
        string encoderDir = Path.Combine(_dir, "encoder"), out1 = Path.Combine(_dir, "gen");
        SaveRandomMdlm(encoderDir, 7);
        string weights = new CheckpointStore(encoderDir).InitialWeightsFile();
        string hash = FrozenEncoders.Sha256(weights);
        var config = Generator(encoderDir);
        var data = TrainingRun.Data(config);
        float[][] before;
        using (var trainer = new Trainer(TestBackends.Cpu, config, data, out1, TextWriter.Null))
        {
            var model = (FujiModel)trainer.Model;
            var encoder = Assert.IsType<FrozenMdlmEncoder>(model.Encoder);
            var encoderParams = encoder.Model.Parameters().ToHashSet();
            Assert.DoesNotContain(model.TrainableParameters, np => encoderParams.Contains(np.Parameter));
            Assert.DoesNotContain(model.Network.Parameters(), encoderParams.Contains);
            Assert.Equal(model.Network.ParameterCount, model.TrainableParameters.Sum(np => (long)np.Parameter.Shape.Elements));
            before = [.. encoder.Model.Parameters().Select(p => p.ToArray())];
            trainer.Run();
            Assert.Equal(before, encoder.Model.Parameters().Select(p => p.ToArray())); // bit-identical after training
            var names = model.Network.NamedParameters().Select(np => np.Name).ToHashSet();

            // The saved weights, EMA and optimizer moments hold exactly the generator's parameters, the encoder none.
            var store = new CheckpointStore(out1);
            var state = store.ReadState();
            Assert.Equal(hash, state.Config["encoder_sha256"]!.GetValue<string>());
            string snapshot = Path.GetDirectoryName(store.InitialWeightsFile())!;
            foreach (string file in new[] { "model.safetensors", "ema.safetensors" })
            {
                var tensors = SafeTensors.Read(Path.Combine(snapshot, file)).Tensors;
                Assert.Equal(names.Order(), tensors.Keys.Order());
                Assert.Equal(model.Network.ParameterCount, tensors.Values.Sum(t => t.Shape.Aggregate(1L, (a, e) => a * e)));
            }
            var moments = SafeTensors.Read(Path.Combine(snapshot, "optimizer.safetensors")).Tensors.Keys;
            Assert.Equal(names.SelectMany(n => new[] { n + ".m", n + ".v" }).Order(), moments.Order());
        }

        // Loading the generator checks the pin: unchanged → loads.
        var saved = TrainConfig.FromJson(new CheckpointStore(out1).ReadState().Config, out1);
        using (var ok = TrainingRun.CreateModel(TestBackends.Cpu, saved, data.Vocabulary))
        {
            Assert.IsType<FrozenMdlmEncoder>(((FujiModel)ok).Encoder);
        }

        // A different encoder at the same path: one error naming the path and both hashes.
        Directory.Delete(encoderDir, recursive: true);
        SaveRandomMdlm(encoderDir, 8);
        string other = FrozenEncoders.Sha256(new CheckpointStore(encoderDir).InitialWeightsFile());
        Assert.NotEqual(hash, other);
        var different = Assert.Throws<InvalidDataException>(() => TrainingRun.CreateModel(TestBackends.Cpu, saved, data.Vocabulary));
        Assert.Contains(hash, different.Message, StringComparison.Ordinal);
        Assert.Contains(other, different.Message, StringComparison.Ordinal);
        Assert.Contains(Path.GetFullPath(encoderDir), different.Message, StringComparison.Ordinal);
        // Resuming the generator with the other encoder (config without a pin) is refused the same way.
        var resume = Assert.Throws<InvalidDataException>(() =>
        {
            using var t = new Trainer(TestBackends.Cpu, config with { Steps = 4 }, data, out1, TextWriter.Null);
            t.Resume();
        });
        Assert.Contains(hash, resume.Message, StringComparison.Ordinal);
        Assert.Contains(other, resume.Message, StringComparison.Ordinal);

        // A missing encoder: the expected hash, "none" found, and the path.
        Directory.Delete(encoderDir, recursive: true);
        var missing = Assert.Throws<FileNotFoundException>(() => TrainingRun.CreateModel(TestBackends.Cpu, saved, data.Vocabulary));
        Assert.Contains(hash, missing.Message, StringComparison.Ordinal);
        Assert.Contains("found: none", missing.Message, StringComparison.Ordinal);
        Assert.Contains(Path.GetFullPath(encoderDir), missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_judge_that_is_the_generators_frozen_encoder_is_refused()
    {
        var ar = new TrainConfig { Model = "ar", Data = "sawtooth", Preset = "xxs", Length = Length, Seed = 4 }.Validate();
        string encoderDir = Path.Combine(_dir, "ar-encoder"), otherJudge = Path.Combine(_dir, "ar-judge");
        foreach (var (dir, seed) in new[] { (encoderDir, 1), (otherJudge, 2) })
        {
            using var model = TrainingRun.CreateModel(TestBackends.Cpu, ar, 2);
            FujiTestModels.Randomize(model.Network, seed);
            new CheckpointStore(dir).Save(model.Network, null, null, new CheckpointStore.State(ar.ToJson(), 1, 1, 0, 1));
        }
        var generator = FrozenEncoders.Pin(Generator(encoderDir, "frozen-ar"));
        var e = Assert.Throws<ArgumentException>(() => FrozenEncoders.RefuseJudge(encoderDir, generator, "fuji-frozen-ar"));
        Assert.Contains("flatter", e.Message, StringComparison.Ordinal);
        Assert.Contains(generator.EncoderSha256, e.Message, StringComparison.Ordinal);
        FrozenEncoders.RefuseJudge(otherJudge, generator, "fuji-frozen-ar"); // a separately trained judge is fine
        // An unpinned generator (older checkpoint) is compared by the encoder's current hash.
        Assert.Throws<ArgumentException>(() => FrozenEncoders.RefuseJudge(encoderDir, generator with { EncoderSha256 = "" }, "old"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
