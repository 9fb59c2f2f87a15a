using Lddm.Kernels.Tests.Support;
using Lddm.Training.Checkpoints;
using Lddm.Training.Engine;
using Lddm.Training.Runs;
using Xunit;

namespace Lddm.Training.Tests.Engine;

/// <summary>The divergence guard (NaN injection mid-run) and the resume rules (extendable keys, saved step beyond steps).</summary>
public sealed class DivergenceAndResumeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-diverge-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static TrainConfig Tiny(int steps) => new()
    {
        Data = "sawtooth",
        Preset = "xxs",
        Length = 8,
        Batch = 4,
        Steps = steps,
        WarmupSteps = 1,
        LogEvery = 100,
        EvalEvery = 0,
        EvalSequences = 4,
        CheckpointEvery = 2,
    };

    [Theory]
    [InlineData(float.NaN, 1)]
    [InlineData(float.PositiveInfinity, 4)]
    public void A_parameter_poisoned_mid_run_stops_training_naming_it_and_keeps_the_last_good_checkpoint(float poison, int parameterIndex)
    {
        var config = Tiny(10);
        string dir = Path.Combine(_dir, "run");
        string poisoned;
        using (var trainer = new Trainer(TestBackends.Cpu, config, TrainingRun.Data(config), dir, TextWriter.Null))
        {
            var (name, parameter) = trainer.Model.Network.NamedParameters().ElementAt(parameterIndex);
            poisoned = name;
            trainer.StepCompleted += step =>
            {
                if (step == 5)
                {
                    var values = parameter.ToArray();
                    values[values.Length / 2] = poison;
                    parameter.Load(values);
                }
            };
            var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
            Assert.Contains("training diverged at step 6", e.Message);
            Assert.Contains($"non-finite weights in '{poisoned}'", e.Message);
            Assert.Contains("the last good checkpoint, step 4", e.Message);
            Assert.Equal(6, trainer.Step);
        }
        // The last good checkpoint is intact and loads (every weight finite, hashes verified).
        var store = new CheckpointStore(dir);
        Assert.Equal(4, store.ReadState().Step);
        using var fresh = new Trainer(TestBackends.Cpu, config, TrainingRun.Data(config), dir, TextWriter.Null);
        fresh.Resume();
        Assert.Equal(4, fresh.Step);
        Assert.All(fresh.Model.Network.NamedParameters(), np => Assert.All(np.Parameter.ToArray(), v => Assert.True(float.IsFinite(v))));
    }

    [Fact]
    public void A_finished_run_is_extended_with_more_steps_and_other_changes_are_refused()
    {
        var config = Tiny(4);
        string dir = Path.Combine(_dir, "run");
        var data = TrainingRun.Data(config);
        using (var first = new Trainer(TestBackends.Cpu, config, data, dir, TextWriter.Null))
        {
            first.Run();
        }
        var longer = config with { Steps = 6, LogEvery = 3, CheckpointEvery = 3, EvalEvery = 5 };
        using (var extended = new Trainer(TestBackends.Cpu, longer, data, dir, TextWriter.Null))
        {
            extended.Resume();
            Assert.Equal(4, extended.Step);
            extended.Run();
            Assert.Equal(6, extended.Step);
        }
        using var other = new Trainer(TestBackends.Cpu, longer with { Batch = 8 }, data, dir, TextWriter.Null);
        var e = Assert.Throws<InvalidDataException>(() => other.Resume());
        Assert.Contains("batch: checkpoint has 4, this run has 8", e.Message);
        using var shorter = new Trainer(TestBackends.Cpu, config with { Steps = 5 }, data, dir, TextWriter.Null);
        var s = Assert.Throws<ArgumentException>(() => shorter.Resume());
        Assert.Contains("at step 6 but this run has steps = 5", s.Message);
    }
}
