using Lddm.Autograd;
using Lddm.Kernels.Tests.Support;
using Lddm.Models;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Diffusion;
using Lddm.Training.Encoders;
using Lddm.Training.Engine;
using Lddm.Training.Fuji;
using Lddm.Training.Runs;
using Xunit;
using Xunit.Abstractions;
using static Lddm.Training.Tests.Fuji.FujiTestModels;

namespace Lddm.Training.Tests.Fuji;

/// <summary>Two-stage FUJI (LADD's JOINT training_stage 1/2): what each stage trains, freezes and saves.</summary>
public sealed class FujiStageTests(ITestOutputHelper output) : IDisposable
{
    private const int B = 3;
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-fuji-stages-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// Stage 1 on a tiny model with every weight random (so the latent head would move if anything reached it): the loss
    /// has no latent term, the latent head gets no gradient and is not trained, while the encoder and the latent stream's
    /// input (which the tokens attend to) do get gradients.
    /// </summary>
    [Fact]
    public void Stage_one_gives_the_latent_head_no_gradient()
    {
        var config = Config("fuji", "stage=1", "latent_dropout=0.3", "encoder_corruption=true");
        using var model = FujiModel.Create(TestBackends.Cpu, RunOptions.Fuji(config), Denoiser(), Encoder());
        Randomize(model.Network, 4);
        Assert.Equal(1, model.Stage);
        var all = model.Network.NamedParameters().Select(p => p.Name).ToList();
        Assert.Contains(all, n => n.StartsWith(FujiModel.LatentHead, StringComparison.Ordinal));
        Assert.Equal(all.Where(n => !n.StartsWith(FujiModel.LatentHead, StringComparison.Ordinal)), model.TrainableParameters.Select(p => p.Name));

        model.Network.ZeroGrad();
        using (var tape = Tape.Begin())
        {
            var loss = (LddmLoss)model.Loss(Tokens(new Random(2), B * L), B, L, seed: 3, step: 1, null);
            Assert.Null(loss.Latent);
            loss.Value.Backward();
        }
        foreach (var (name, p) in model.Network.NamedParameters())
        {
            double norm = p.Grad is null ? 0 : Math.Sqrt(p.Grad.ToArray().Sum(v => (double)v * v));
            if (name.StartsWith(FujiModel.LatentHead, StringComparison.Ordinal))
            {
                Assert.True(norm == 0, $"{name} received a gradient of norm {norm} in stage 1.");
            }
            else if (name.StartsWith("encoder.", StringComparison.Ordinal) || name.StartsWith("denoiser.latent_in", StringComparison.Ordinal))
            {
                Assert.True(norm > 0, $"{name} received no gradient in stage 1.");
            }
        }
        model.Network.ZeroGrad();
    }

    /// <summary>
    /// Stage 1 then stage 2 through the trainer and checkpoints, as <c>lddm train --model fuji --stage 0</c> runs them.
    /// Stage 1 (weight decay on, latent head randomised so any update would show) leaves the latent head bit-identical
    /// and out of the EMA; stage 2 starts from stage 1's EMA weights, freezes its encoder (bit-identical over every step)
    /// and keeps it out of the network, the optimizer, the EMA and every saved tensor, and trains the latent head.
    /// </summary>
    [Fact]
    public void Stage_two_freezes_the_stage_one_encoder_outside_optimizer_ema_and_checkpoint()
    {
        var backend = TestBackends.Cpu;
        var config = new TrainConfig
        {
            Model = "fuji",
            Data = "sawtooth",
            Length = 8,
            Preset = "xxs",
            EncoderPreset = "xxs",
            LatentPatches = 2,
            LatentDim = 4,
            Batch = 4,
            Steps = 6,
            WeightDecay = 0.1,
            WarmupSteps = 0,
            EvalEvery = 0,
            EvalSequences = 4,
            CheckpointEvery = 0,
            LatentDropout = 0.25,
            EncoderCorruption = true,
            Seed = 3,
        }.Validate();
        var data = TrainingRun.Data(config);
        string dir1 = Path.Combine(_dir, "stage1"), dir2 = Path.Combine(_dir, "stage2");
        var (stage1, stage2) = TrainingRun.Stages(config, dir1);

        var model1 = (FujiModel)TrainingRun.CreateModel(backend, stage1!, data.Vocabulary);
        foreach (var (name, p) in model1.Network.NamedParameters().Where(np => np.Name.StartsWith(FujiModel.LatentHead, StringComparison.Ordinal)))
        {
            p.Load(Numerics.RandomFloats(new Random(name.Length), p.Shape.Elements, 0.3f));
        }
        var before1 = Snapshot(model1.Network);
        using (var trainer = new Trainer(model1, stage1!, data, dir1, TextWriter.Null))
        {
            Assert.DoesNotContain(trainer.Ema.State(), s => s.Name.StartsWith(FujiModel.LatentHead, StringComparison.Ordinal));
            trainer.Run();
            var after1 = Snapshot(model1.Network);
            var changed = before1.Keys.Where(name => !before1[name].SequenceEqual(after1[name])).ToList();
            Assert.DoesNotContain(changed, name => name.StartsWith(FujiModel.LatentHead, StringComparison.Ordinal));
            Assert.Contains(changed, name => name.StartsWith("encoder.", StringComparison.Ordinal));
            Assert.Contains(changed, name => name.StartsWith("denoiser.latent_in", StringComparison.Ordinal));
        }
        var ema1 = Tensors(dir1, "ema.safetensors");
        Assert.Contains(ema1.Keys, k => k.StartsWith("encoder.", StringComparison.Ordinal));

        var model2 = (FujiModel)TrainingRun.CreateModel(backend, stage2, data.Vocabulary);
        var frozen = Assert.IsType<FrozenLddmEncoder>(model2.Encoder);
        var encoder = frozen.Network.NamedParameters().ToDictionary(np => "encoder." + np.Name, np => np.Parameter.ToArray());
        Assert.Equal(ema1.Keys.Where(k => k.StartsWith("encoder.", StringComparison.Ordinal)).Order(), encoder.Keys.Order());
        Assert.All(encoder, kv => Assert.Equal(ema1[kv.Key], kv.Value)); // stage 1's EMA encoder
        Assert.DoesNotContain(model2.Network.NamedParameters(), np => np.Name.StartsWith("encoder.", StringComparison.Ordinal));
        var log = new StringWriter();
        using (var trainer = new Trainer(model2, stage2, data, dir2, log))
        {
            foreach (var (name, p) in model2.Network.NamedParameters().Where(np => ema1.ContainsKey(np.Name)))
            {
                Assert.Equal(ema1[name], p.ToArray()); // the MM-DiT starts from stage 1's EMA weights
            }
            Assert.DoesNotContain(model2.TrainableParameters, np => np.Name.StartsWith("encoder.", StringComparison.Ordinal));
            Assert.DoesNotContain(trainer.Ema.State(), s => s.Name.StartsWith("encoder.", StringComparison.Ordinal));
            var head = Snapshot(model2.Network).Where(kv => kv.Key.StartsWith(FujiModel.LatentHead, StringComparison.Ordinal)).ToList();
            trainer.StepCompleted += _ =>
            {
                foreach (var (name, p) in frozen.Network.NamedParameters())
                {
                    Assert.True(encoder["encoder." + name].SequenceEqual(p.ToArray()), $"stage 2 changed the frozen encoder's {name}");
                }
            };
            trainer.Run();
            var after = Snapshot(model2.Network);
            Assert.Contains(head, kv => !kv.Value.SequenceEqual(after[kv.Key])); // stage 2 trains the latent head
        }
        output.WriteLine(log.ToString());
        var files = Directory.GetFiles(dir2, "*.safetensors", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        foreach (string file in files)
        {
            Assert.DoesNotContain(SafeTensors.Read(file).Tensors.Keys, k => k.StartsWith("encoder.", StringComparison.Ordinal));
        }
    }

    /// <summary>With a frozen encoder, stage 2 needs no stage 1 and no init: both losses, the whole network trained.</summary>
    [Fact]
    public void Stage_two_with_a_frozen_encoder_needs_no_stage_one()
    {
        var backend = TestBackends.Cpu;
        using var frozenNetwork = new DiTEncoder(backend, Encoder());
        Randomize(frozenNetwork, 6);
        var config = Config("fuji", "stage=2", "encoder=frozen-ar", "encoder_checkpoint=unused");
        using var model = FujiModel.Create(backend, RunOptions.Fuji(config), Denoiser(), null, new FrozenTestEncoder(frozenNetwork));
        Randomize(model.Network, 2);
        Assert.Equal(model.Network.NamedParameters().Select(p => p.Name), model.TrainableParameters.Select(p => p.Name));
        using var tape = Tape.Begin();
        var loss = (LddmLoss)model.Loss(Tokens(new Random(5), B * L), B, L, seed: 1, step: 0, null);
        Assert.NotNull(loss.Latent);

        var learned = Assert.Throws<ArgumentException>(() => FujiModel.Create(backend, RunOptions.Fuji(Config("fuji", "stage=2", "init=somewhere")), Denoiser(), Encoder()));
        Assert.Contains("stage 2 freezes the encoder", learned.Message, StringComparison.Ordinal);
    }

    private static Dictionary<string, float[]> Snapshot(Module network) =>
        network.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter.ToArray());

    /// <summary>The tensors of the latest checkpoint in <paramref name="dir"/>'s file <paramref name="file"/>.</summary>
    private static Dictionary<string, float[]> Tensors(string dir, string file)
    {
        string path = Directory.GetFiles(dir, file, SearchOption.AllDirectories).Order().Last();
        return SafeTensors.Read(path).Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.ToFloats());
    }

    private sealed class FrozenTestEncoder(DiTEncoder network) : ILatentEncoder
    {
        public int Patches => network.Config.Patches;

        public int PatchDim => network.Config.PatchDim;

        public bool Trainable => false;

        public Tensor Encode(IntTensor x0, Tensor? keep = null) => network.Forward(x0, keep);
    }
}
