using Lddm.Training.Runs;
using Xunit;

namespace Lddm.Training.Tests.Runs;

public sealed class ConfigTests
{
    [Theory]
    [InlineData("seq", 10, 0.5, 5)]
    [InlineData("seq", 7, 0.3, 2)]
    [InlineData("seq", 1000, 0.9, 900)]
    [InlineData("fuji", 10, 0.5, 5)]
    [InlineData("fuji", 7, 0.3, 2)]
    public void Stage_zero_splits_the_steps_and_stage_two_starts_from_stage_one(string model, int steps, double fraction, int expected1)
    {
        var config = new TrainConfig { Model = model, Steps = steps, Stage1Fraction = fraction, Seed = 7 };
        var (one, two) = TrainingRun.Stages(config, "runs/x/stage1");
        Assert.NotNull(one);
        Assert.Equal((1, expected1, ""), (one.Stage, one.Steps, one.Init));
        Assert.Equal((2, steps - expected1, Path.GetFullPath("runs/x/stage1")), (two.Stage, two.Steps, two.Init));
        Assert.Equal(config with { Stage = 1, Steps = expected1 }, one);
        // Stage 2 restarts its step count: its own seed keeps its batches and draws from replaying stage 1's.
        Assert.NotEqual(one.Seed, two.Seed);
        Assert.Equal(config with { Stage = 2, Steps = steps - expected1, Init = two.Init, Seed = TrainingRun.Stage2Seed(config.Seed) }, two);
    }

    [Fact]
    public void Seq_stages_refuse_splits_that_leave_a_stage_without_steps_and_other_models()
    {
        var e = Assert.Throws<ArgumentException>(() => TrainingRun.Stages(new TrainConfig { Model = "seq", Steps = 1, Stage1Fraction = 0.9 }, "d"));
        Assert.Contains("leaves 1 steps for stage 1 and 0 for stage 2", e.Message);
        var m = Assert.Throws<ArgumentException>(() => TrainingRun.Stages(new TrainConfig { Model = "mdlm" }, "d"));
        Assert.Contains("model = mdlm", m.Message);
        var init = Assert.Throws<ArgumentException>(() => new TrainConfig { Model = "mdlm", Init = "d" }.Validate());
        Assert.Contains("init = d", init.Message);
        var fujiInit = Assert.Throws<ArgumentException>(() => new TrainConfig { Model = "fuji", Stage = 2 }.Validate());
        Assert.Contains("FUJI stage 2 with encoder = learned", fujiInit.Message);
        Assert.Contains("stage = -1", Assert.Throws<ArgumentException>(() => new TrainConfig { Model = "seq", Stage = -1 }.Validate()).Message);
    }

    /// <summary>FUJI with a frozen encoder has nothing to train in stage 1: stage 0 is stage 2 alone, over every step.</summary>
    [Fact]
    public void Fuji_stage_zero_with_a_frozen_encoder_is_stage_two_alone()
    {
        var config = new TrainConfig { Model = "fuji", Steps = 40, Encoder = "frozen-ar", EncoderCheckpoint = "judge", Seed = 7 };
        var (one, two) = TrainingRun.Stages(config, "runs/x/stage1");
        Assert.Null(one);
        Assert.Equal(config with { Stage = 2 }, two);
    }
}
