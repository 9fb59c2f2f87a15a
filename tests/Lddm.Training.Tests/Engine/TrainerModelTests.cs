using Lddm.Kernels.Tests.Support;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Engine;
using Lddm.Training.Mdlm;
using Lddm.Training.Optim;
using Lddm.Training.Runs;
using Xunit;

namespace Lddm.Training.Tests.Engine;

/// <summary>The trainer over a generic <see cref="ITrainableModel"/>: frozen parameters, subset checkpoints, init.</summary>
public sealed class TrainerModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-trainer-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static TrainConfig Config(int steps) => new()
    {
        Model = "seq",
        Data = "sawtooth",
        Length = 8,
        Batch = 2,
        Steps = steps,
        WarmupSteps = 0,
        LearningRate = 0.05,
        WeightDecay = 0.1, // would shrink a frozen parameter too if the optimizer saw it
        LogEvery = 100,
        EvalSequences = 2,
        CheckpointEvery = 0,
    };

    private static SawtoothData Data(TrainConfig c) => (SawtoothData)TrainingRun.Data(c);

    [Fact]
    public void A_frozen_parameter_is_unchanged_by_training_while_the_trained_ones_move()
    {
        var config = Config(3);
        var model = new FrozenPartModel(TestBackends.Cpu, 4, prior: true, seed: (ulong)Environment.TickCount);
        float[] a0 = model.A.ToArray(), f0 = model.F.ToArray(), p0 = model.Prior!.ToArray();
        using var trainer = new Trainer(model, config, Data(config), Path.Combine(_dir, "run"), TextWriter.Null);
        trainer.Run();
        Assert.Equal(f0, model.F.ToArray());
        Assert.NotEqual(a0, model.A.ToArray());
        Assert.NotEqual(p0, model.Prior.ToArray());
        Assert.Equal(["a", "prior"], trainer.Ema.State().Select(s => s.Name));
    }

    [Fact]
    public void A_checkpoint_whose_ema_covers_only_the_trained_parameters_resumes_bit_for_bit()
    {
        var config = Config(4);
        string dir = Path.Combine(_dir, "run");
        using var straight = new Trainer(new FrozenPartModel(TestBackends.Cpu, 4, prior: true), config, Data(config), null, TextWriter.Null);
        straight.Run();
        using (var first = new Trainer(new FrozenPartModel(TestBackends.Cpu, 4, prior: true), config, Data(config), dir, TextWriter.Null))
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
        }
        var saved = Path.Combine(dir, "step-00000002");
        Assert.Equal(["a", "prior"], SafeTensors.Read(Path.Combine(saved, "ema.safetensors")).Tensors.Keys.Order());
        Assert.Equal(["a", "f", "prior"], SafeTensors.Read(Path.Combine(saved, "model.safetensors")).Tensors.Keys.Order());

        using var resumed = new Trainer(new FrozenPartModel(TestBackends.Cpu, 4, prior: true), config, Data(config), dir, TextWriter.Null);
        resumed.Resume();
        Assert.Equal(2, resumed.Step);
        resumed.Run();
        foreach (var ((name, a), (_, b)) in straight.Model.Network.NamedParameters().Zip(resumed.Model.Network.NamedParameters()))
        {
            Assert.True(a.ToArray().SequenceEqual(b.ToArray()), $"parameter {name} differs after resume");
        }
        foreach (var ((name, a), (_, b)) in straight.Ema.State().Zip(resumed.Ema.State()))
        {
            Assert.True(a.ToArray().SequenceEqual(b.ToArray()), $"EMA of {name} differs after resume");
        }
    }

    [Fact]
    public void Init_loads_the_checkpoints_ema_weights_by_name_and_keeps_the_rest()
    {
        string stage1 = Path.Combine(_dir, "stage1");
        using var source = new FrozenPartModel(TestBackends.Cpu, 4, prior: false, seed: 11);
        using var ema = new Ema(source.Network.NamedParameters(), 0.5);
        // Make the EMA differ from the live weights, so the test can tell which was loaded.
        foreach (var (_, p) in source.Network.NamedParameters())
        {
            p.Data.CopyFrom(p.ToArray().Select(v => v + 1f).ToArray());
        }
        ema.Update();
        new CheckpointStore(stage1).Save(source.Network, null, ema, new CheckpointStore.State(new(), 5, 0, 1, 1));
        var emaWeights = ema.State().ToDictionary(s => s.Name, s => s.Shadow.ToArray());

        var config = Config(1) with { Stage = 2, Init = stage1 };
        var target = new FrozenPartModel(TestBackends.Cpu, 4, prior: true, seed: 12);
        float[] prior = target.Prior!.ToArray();
        var log = new StringWriter();
        using var trainer = new Trainer(target, config, Data(config), null, log);
        Assert.Equal(emaWeights["a"], target.A.ToArray());
        Assert.Equal(emaWeights["f"], target.F.ToArray());
        Assert.Equal(prior, target.Prior.ToArray());
        Assert.NotEqual(source.A.ToArray(), target.A.ToArray()); // the EMA weights, not the live ones
        Assert.Contains("init: 2 tensors (24 parameters)", log.ToString());
        Assert.Contains("ema.safetensors (step 5); kept their initialisation: prior", log.ToString());
        // The trainer's own EMA starts from the loaded weights.
        Assert.Equal(emaWeights["a"], trainer.Ema.State().Single(s => s.Name == "a").Shadow.ToArray());
    }

    [Fact]
    public void Init_without_an_ema_loads_the_weights_and_rejects_mismatched_shapes_and_unknown_names()
    {
        string stage1 = Path.Combine(_dir, "stage1");
        using (var source = new FrozenPartModel(TestBackends.Cpu, 4, prior: true, seed: 3))
        {
            new CheckpointStore(stage1).Save(source.Network, null, null, new CheckpointStore.State(new(), 1, 0, 0, 1));
            using var same = new FrozenPartModel(TestBackends.Cpu, 4, prior: true, seed: 4);
            var init = new CheckpointStore(stage1).LoadInitialWeights(same.Network);
            Assert.EndsWith("model.safetensors", init.Source);
            Assert.Equal(source.Prior!.ToArray(), same.Prior!.ToArray());
            Assert.Empty(init.Kept);
        }
        var config = Config(1) with { Stage = 2, Init = stage1 };
        var wide = new FrozenPartModel(TestBackends.Cpu, 5, prior: true);
        var shape = Assert.Throws<InvalidDataException>(() => new Trainer(wide, config, Data(config), null, TextWriter.Null));
        Assert.Contains("'a' has shape (4, 3) but the network needs (5, 3)", shape.Message);
        Assert.Contains("'f' has shape (4, 3)", shape.Message);
        wide.Dispose();

        using var noPrior = new FrozenPartModel(TestBackends.Cpu, 4, prior: false);
        var unknown = Assert.Throws<InvalidDataException>(() => new CheckpointStore(stage1).LoadInitialWeights(noPrior.Network));
        Assert.Contains("'prior' is not a parameter of the network", unknown.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MdlmModel_generates_what_its_sampler_draws_with_the_configs_time_conditioning(bool timeConditioning)
    {
        var config = new TrainConfig { Data = "sawtooth", Preset = "tiny", Length = 8, TimeConditioning = timeConditioning };
        using var model = (MdlmModel)TrainingRun.CreateModel(TestBackends.Cpu, config, 2);
        Assert.Equal("mdlm", model.Kind);
        Assert.Equal(model.Network.NamedParameters().Select(np => np.Name), model.TrainableParameters.Select(np => np.Name));
        var generated = model.Generate(3, 8, 4, seed: 9);
        var direct = model.Sampler.Run(model.Dit, 3, 8, 4, 9, 1f, timeConditioning);
        Assert.Equal(direct.Tokens, generated.Tokens);
        Assert.Equal(direct.Nfe, generated.Nfe);
    }

    [Fact]
    public void A_model_of_another_kind_than_the_config_names_is_refused()
    {
        var config = Config(1) with { Model = "mdlm" };
        var e = Assert.Throws<ArgumentException>(() => new Trainer(new FrozenPartModel(TestBackends.Cpu, 2), config, Data(config), null, TextWriter.Null));
        Assert.Contains("The model is a seq but the config says model = mdlm", e.Message);
    }

    [Theory]
    [InlineData("mdlm")]
    [InlineData("fuji")]
    [InlineData("seq")]
    [InlineData("ar")]
    public void Every_model_kind_is_built_from_its_config(string kind)
    {
        var config = new TrainConfig { Model = kind, Preset = "xxs", EncoderPreset = "xxs", Length = 8, Stage = kind == "seq" ? 1 : 0 }.Validate();
        using var model = TrainingRun.CreateModel(TestBackends.Cpu, config, 2);
        Assert.Equal(kind, model.Kind);
        Assert.NotEmpty(model.TrainableParameters);
        Assert.True(model.Network.ParameterCount >= model.TrainableParameters.Sum(p => (long)p.Parameter.Shape.Elements));
    }

    [Fact]
    public void A_frozen_encoder_checkpoint_that_does_not_exist_is_named()
    {
        var config = new TrainConfig { Model = "fuji", Preset = "xxs", Length = 8, Encoder = "frozen-ar", EncoderCheckpoint = "no/such/run" }.Validate();
        var e = Assert.ThrowsAny<Exception>(() => TrainingRun.CreateModel(TestBackends.Cpu, config, 2));
        Assert.Contains("no/such/run", e.Message);
    }
}
