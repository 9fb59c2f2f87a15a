using Lddm.Kernels.Tests.Support;
using Lddm.Training.Checkpoints;
using Lddm.Training.DiLadd;
using Lddm.Training.Mdlm;
using Lddm.Training.Optim;
using Lddm.Training.Runs;
using Lddm.Training.Tests.Fuji;
using Xunit;

namespace Lddm.Training.Tests.DiLadd;

/// <summary>
/// Di-LADD through the composition root: the config keys, the factory over a frozen MDLM checkpoint, checkpoints that
/// hold the quantiser state bit for bit, a bit-identical resume, and stage 2 starting from stage 1's codebook.
/// </summary>
public sealed class DiLaddRunTests : IDisposable
{
    private const int Length = 8;
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-diladd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A random MDLM (xxs, sawtooth, L = 8) saved as a checkpoint: the frozen encoder.</summary>
    private string SaveEncoder()
    {
        string dir = Path.Combine(_dir, "enc");
        var config = new TrainConfig { Model = "mdlm", Data = "sawtooth", Preset = "xxs", Length = Length, Seed = 4 }.Validate();
        using var model = TrainingRun.CreateModel(TestBackends.Cpu, config, TrainingRun.Data(config).Vocabulary);
        FujiTestModels.Randomize(model.Network, 4);
        using var ema = new Ema(model.TrainableParameters, 0.9);
        new CheckpointStore(dir).Save(model.Network, null, ema, new CheckpointStore.State(config.ToJson(), 1, 1, 1, config.Seed));
        return dir;
    }

    private TrainConfig Config(string encoder, int steps, int stage = -1) => new TrainConfig
    {
        Model = "diladd",
        Data = "sawtooth",
        Preset = "xxs",
        Length = Length,
        Batch = 4,
        Steps = steps,
        WarmupSteps = 0,
        LearningRate = 0.02,
        EvalEvery = 0,
        EvalSequences = 4,
        CheckpointEvery = 0,
        LogEvery = 100,
        LatentPatches = 2,
        LatentDim = 4,
        LatentCodes = 6,
        IndependentTimes = true,
        Encoder = "frozen-mdlm",
        EncoderCheckpoint = encoder,
        Stage = stage,
        Seed = 9,
    }.Validate();

    private static Dictionary<string, float[]> State(DiLaddModel model) =>
        model.Quantizer.NamedState().ToDictionary(s => s.Name, s => s.Tensor.ToArray());

    private static void AssertBitIdentical(IEnumerable<(string Name, Lddm.Autograd.Parameter Parameter)> a,
        IEnumerable<(string Name, Lddm.Autograd.Parameter Parameter)> b, string what)
    {
        var left = a.ToList();
        var right = b.ToDictionary(np => np.Name, np => np.Parameter);
        Assert.Equal(left.Count, right.Count);
        foreach (var (name, p) in left)
        {
            var x = p.ToArray();
            var y = right[name].ToArray();
            Assert.True(x.Select(BitConverter.SingleToInt32Bits).SequenceEqual(y.Select(BitConverter.SingleToInt32Bits)), $"{what}: '{name}' differs");
        }
    }

    [Fact]
    public void ConfigKeysAreValidatedWithClearErrors()
    {
        var ok = new TrainConfig { Model = "diladd", Encoder = "frozen-mdlm", EncoderCheckpoint = "x", LatentCodes = 32, VqCommitment = 0.2, VqDecay = 0.9 }.Validate();
        var options = RunOptions.DiLadd(ok);
        Assert.Equal((32, 0.2f, 0.9), (options.Codes, options.Commitment, options.Decay));
        string Error(TrainConfig c) => Assert.Throws<ArgumentException>(() => c.Validate()).Message;
        var baseConfig = ok;
        Assert.Contains("latent_codes = 1", Error(baseConfig with { LatentCodes = 1 }), StringComparison.Ordinal);
        Assert.Contains("vq_commitment", Error(baseConfig with { VqCommitment = -0.1 }), StringComparison.Ordinal);
        Assert.Contains("vq_commitment", Error(baseConfig with { VqCommitment = double.NaN }), StringComparison.Ordinal);
        Assert.Contains("vq_decay", Error(baseConfig with { VqDecay = 1 }), StringComparison.Ordinal);
        Assert.Contains("frozen-mdlm, frozen-ar or frozen-lddm", Error(baseConfig with { Encoder = "learned" }), StringComparison.Ordinal);
        Assert.Contains("all_zero_latent", Error(baseConfig with { AllZeroLatent = true }), StringComparison.Ordinal);
        Assert.Contains("latent_dropout", Error(baseConfig with { LatentDropout = 0.1 }), StringComparison.Ordinal);
        Assert.Contains("model = di-ladd (mdlm, fuji, seq, diladd or ar)", Error(baseConfig with { Model = "di-ladd" }), StringComparison.Ordinal);
        var parsed = new TrainConfig().WithOverrides(["model=diladd", "encoder=frozen-ar", "encoder_checkpoint=y", "latent_codes=64", "vq_decay=0.99", "stage=-1"]).Validate();
        Assert.Equal((64, 0.99, -1), (parsed.LatentCodes, parsed.VqDecay, parsed.Stage));
    }

    /// <summary>
    /// Trained through the factory (frozen MDLM encoder), a run interrupted at step 2 and resumed ends bit-identical to
    /// one that ran straight (every weight and the quantiser's codebook, EMA sums, counts and update count); the final
    /// checkpoint loaded back (<see cref="LddmModel.Load"/>) restores that quantiser state bit for bit, and samples.
    /// </summary>
    [Fact]
    public void CheckpointRoundTripAndResumeAreBitIdentical()
    {
        string encoder = SaveEncoder(), dir = Path.Combine(_dir, "run");
        var config = Config(encoder, steps: 4);
        var data = TrainingRun.Data(config);
        using var straight = new Trainer(TestBackends.Cpu, config, data, null, TextWriter.Null);
        var initial = State((DiLaddModel)straight.Model);
        straight.Run();
        var model = (DiLaddModel)straight.Model;
        Assert.Equal(4, model.Quantizer.Updates);
        Assert.NotEqual(initial["codebook"], State(model)["codebook"]);
        Assert.NotEqual(initial["cluster_size"], State(model)["cluster_size"]);

        using (var first = new Trainer(TestBackends.Cpu, config, data, dir, TextWriter.Null))
        {
            using var stop = new CancellationTokenSource();
            first.StepCompleted += step =>
            {
                if (step == 2)
                {
                    stop.Cancel();
                }
            };
            first.Run(stop.Token);
            Assert.Equal(2, first.Step);
        }
        var saved = SafeTensors.Read(Path.Combine(dir, "step-00000002", "model.safetensors")).Tensors.Keys;
        Assert.Contains("quantizer.codebook", saved);
        Assert.Contains("quantizer.embed_avg", saved);
        Assert.Contains("quantizer.cluster_size", saved);
        using (var resumed = new Trainer(TestBackends.Cpu, config, data, dir, TextWriter.Null))
        {
            resumed.Resume();
            Assert.Equal(2, ((DiLaddModel)resumed.Model).Quantizer.Updates);
            resumed.Run();
            AssertBitIdentical(straight.Model.Network.NamedParameters(), resumed.Model.Network.NamedParameters(), "resumed vs straight");
            var shadows = straight.Ema.State().ToDictionary(s => s.Name, s => s.Shadow.ToArray());
            foreach (var (name, shadow) in resumed.Ema.State())
            {
                Assert.True(shadows[name].Select(BitConverter.SingleToInt32Bits).SequenceEqual(shadow.ToArray().Select(BitConverter.SingleToInt32Bits)), $"EMA of '{name}' differs");
            }
        }

        using var loaded = LddmModel.Load(dir, TestBackends.Cpu);
        var back = (DiLaddModel)loaded.Model;
        AssertBitIdentical(model.Quantizer.NamedState(), back.Quantizer.NamedState(), "loaded quantiser vs trained");
        var generation = loaded.Generate(new GenerateOptions { Count = 2, Steps = 3, SequentialLatentSteps = 2 });
        Assert.All(generation.Tokens, v => Assert.InRange(v, 0, data.Vocabulary - 1));
    }

    /// <summary>
    /// Stage 0 runs stage 1 (no latent head trained, no latent term) then stage 2 from stage 1's checkpoint: stage 2
    /// starts from stage 1's EMA weights and from its final codebook state bit for bit (the state has no EMA shadow, so
    /// it comes from the snapshot's weights).
    /// </summary>
    [Fact]
    public void StageTwoStartsFromStageOnesCodebook()
    {
        string encoder = SaveEncoder(), dir = Path.Combine(_dir, "two");
        var config = Config(encoder, steps: 4, stage: 0);
        var (stage1, stage2) = TrainingRun.Stages(config, Path.Combine(dir, "stage1"));
        Assert.NotNull(stage1);
        Assert.Equal((1, 2, 2, 2), (stage1!.Stage, stage1.Steps, stage2.Stage, stage2.Steps));
        var data = TrainingRun.Data(config);
        Dictionary<string, float[]> end1;
        using (var first = new Trainer(TestBackends.Cpu, stage1, data, Path.Combine(dir, "stage1"), TextWriter.Null))
        {
            first.Run();
            end1 = State((DiLaddModel)first.Model);
            Assert.Equal(2, ((DiLaddModel)first.Model).Quantizer.Updates);
        }
        using var second = new Trainer(TestBackends.Cpu, stage2, data, dir, TextWriter.Null);
        var start2 = State((DiLaddModel)second.Model);
        foreach (var (name, values) in end1)
        {
            Assert.True(values.SequenceEqual(start2[name]), $"stage 2's quantizer.{name} is not stage 1's");
        }
        second.Run();
        Assert.Equal(4, ((DiLaddModel)second.Model).Quantizer.Updates);
        Assert.True(second.LastValidationNelbo > 0);
    }
}
