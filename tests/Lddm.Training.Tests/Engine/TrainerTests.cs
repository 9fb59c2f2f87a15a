using Lddm.Kernels.Tests.Support;
using Lddm.Training.Data;
using Lddm.Training.Engine;
using Lddm.Training.Runs;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Training.Tests.Engine;

public sealed class TrainerTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-train-").FullName;

    private static TrainConfig Tiny(int steps) => new()
    {
        Data = "sawtooth",
        Preset = "tiny",
        Length = 16,
        Batch = 8,
        Steps = steps,
        WarmupSteps = 2,
        LearningRate = 3e-3,
        LogEvery = 100,
        EvalEvery = 0,
        EvalSequences = 8,
        CheckpointEvery = 0,
        Dropout = 0.1,
        GradAccumulation = 2,
    };

    [Fact]
    public void Resuming_from_a_checkpoint_gives_the_same_parameters_as_not_stopping()
    {
        var backend = TestBackends.Cpu;
        var config = Tiny(6);
        var data = TrainingRun.Data(config);
        using var straight = new Trainer(backend, config, data, null, TextWriter.Null);
        straight.Run();

        string dir = Path.Combine(_dir, "run");
        using (var first = new Trainer(backend, config with { Steps = 6 }, data, dir, TextWriter.Null))
        {
            first.Run(StopAfter(first, 3));
        }
        using var resumed = new Trainer(backend, config, data, dir, TextWriter.Null);
        resumed.Resume();
        Assert.Equal(3, resumed.Step);
        resumed.Run();
        foreach (var ((name, a), (_, b)) in straight.Model.Network.NamedParameters().Zip(resumed.Model.Network.NamedParameters()))
        {
            Assert.True(a.ToArray().SequenceEqual(b.ToArray()), $"parameter {name} differs after resume");
        }
    }

    [Fact]
    public void A_tiny_mdlm_on_sawtooth_beats_the_iid_bernoulli_baseline()
    {
        var config = Tiny(200) with { Length = 32, Batch = 32, GradAccumulation = 1, Dropout = 0, EvalSequences = 64, EmaDecay = 0.9, LearningRate = 5e-3, WarmupSteps = 20 };
        var data = (SawtoothData)TrainingRun.Data(config);
        double iid = data.Generator.IidBernoulliNll() / config.Length;
        using var trainer = new Trainer(TestBackends.Cpu, config, data, null, TextWriter.Null);
        double before = trainer.ValidationNelbo();
        trainer.Run();
        double after = trainer.ValidationNelbo();
        output.WriteLine($"validation NELBO {before:F4} → {after:F4} nats/token; i.i.d. Bernoulli baseline {iid:F4}");
        Assert.True(after < iid, $"NELBO {after:F4} did not beat the i.i.d. baseline {iid:F4} (start {before:F4}).");
    }

    [Fact]
    public void Config_overrides_reject_unknown_keys_and_bad_values_in_one_message()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainConfig().WithOverrides(["lerning_rate=1"]));
        Assert.Contains("unknown key 'lerning_rate' (did you mean 'learning_rate'?)", e.Message);
        Assert.Contains("learning_rate", e.Message);
        var v = Assert.Throws<ArgumentException>(() => new TrainConfig().WithOverrides(["batch=0", "dropout=1.5"]).Validate());
        Assert.Contains("batch = 0", v.Message);
        Assert.Contains("dropout = 1.5", v.Message);
        Assert.Equal(7, new TrainConfig().WithOverrides(["steps=7"]).Steps);
        Assert.Equal("sawtooth", new TrainConfig().WithOverrides(["data=sawtooth"]).Data);
    }

    /// <summary>Cancels the run once the trainer has completed <paramref name="steps"/> steps (checked per step).</summary>
    private static CancellationToken StopAfter(Trainer trainer, int steps) => new StepCancellation(trainer, steps).Token;

    private sealed class StepCancellation
    {
        private readonly CancellationTokenSource _source = new();

        public StepCancellation(Trainer trainer, int steps)
        {
            trainer.StepCompleted += step =>
            {
                if (step >= steps)
                {
                    _source.Cancel();
                }
            };
        }

        public CancellationToken Token => _source.Token;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
