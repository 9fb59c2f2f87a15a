using Lddm.Kernels.Tests.Support;
using Lddm.Training.Data;
using Lddm.Training.Distributed;
using Lddm.Training.Engine;
using Lddm.Training.Runs;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Training.Tests.Distributed;

/// <summary>
/// K in-process ranks (threads) against one process. Rank r computes micro-batches (step−1)·K·A + r·A + a, so K ranks
/// with batch B and grad_accumulation A see exactly the sequences and draws (times, masks, dropout) of one process
/// with batch B and grad_accumulation K·A — the doubled batch. The parameters agree within <see cref="Tolerance"/>, not
/// bit for bit: one process adds micro-batch 2's gradient into the buffer that already holds micro-batch 1's, inside
/// the backward kernels (((a₁ + a₂) + b₁) + b₂ for a parameter used twice), while the ranks sum whole gradients after
/// backward ((a₁ + a₂) + (b₁ + b₂)). That reassociation is a few float32 ulps per step; Adam turns it into parameter
/// differences of order lr · 1e-6 over a few steps.
/// </summary>
public sealed class DataParallelTrainerTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>|Δθ| ≤ Tolerance · (1 + |θ|) elementwise, after <see cref="Steps"/> steps at lr 3e-3.</summary>
    public const double Tolerance = 2e-5;

    private const int Steps = 4;

    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-dp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A tiny run; dropout on, so its (seed, micro-batch) draw is covered too.</summary>
    public static TrainConfig Tiny(string model = "mdlm") => new()
    {
        Model = model,
        Data = "sawtooth",
        Preset = "xxs",
        EncoderPreset = "xxs",
        Length = 16,
        Batch = 4,
        Steps = Steps,
        WarmupSteps = 1,
        LearningRate = 3e-3,
        LogEvery = 100,
        EvalEvery = 0,
        EvalSequences = 4,
        CheckpointEvery = 0,
        Dropout = 0.1,
        LatentDim = 8,
        Seed = (ulong)Random.Shared.Next(1, 1 << 30),
    };

    /// <summary>Trains <paramref name="config"/> in one process and returns every parameter by name.</summary>
    public static Dictionary<string, float[]> TrainOne(TrainConfig config)
    {
        using var trainer = new Trainer(TestBackends.Cpu, config, TrainingRun.Data(config), null, TextWriter.Null);
        trainer.Run();
        return Parameters(trainer);
    }

    public static Dictionary<string, float[]> Parameters(Trainer trainer) =>
        trainer.Model.Network.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter.ToArray());

    /// <summary>The largest |a − b| / (1 + |a|) over every parameter (names and shapes must match).</summary>
    public static (double Worst, string Where) Compare(Dictionary<string, float[]> a, Dictionary<string, float[]> b)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double worst = 0;
        string where = "";
        foreach (var (name, x) in a)
        {
            var y = b[name];
            Assert.Equal(x.Length, y.Length);
            for (int i = 0; i < x.Length; i++)
            {
                double d = Math.Abs((double)x[i] - y[i]) / (1 + Math.Abs(x[i]));
                if (!(d <= worst))
                {
                    (worst, where) = (d, $"{name}[{i}]: {x[i]} vs {y[i]}");
                }
            }
        }
        return (worst, where);
    }

    [Theory]
    [InlineData("mdlm", 2, 1)]
    [InlineData("mdlm", 2, 2)]
    [InlineData("fuji", 2, 1)]
    public void K_ranks_with_batch_B_train_as_one_process_with_the_K_fold_batch(string model, int k, int accumulation)
    {
        var config = Tiny(model) with { GradAccumulation = accumulation };
        var ranks = InProcessGroup.Run(k, c =>
        {
            using var trainer = new Trainer(TestBackends.Cpu, config, TrainingRun.Data(config), null, TextWriter.Null, c);
            trainer.Run();
            return Parameters(trainer);
        });
        var single = TrainOne(config with { GradAccumulation = k * accumulation });
        var (worst, where) = Compare(single, ranks[0]);
        output.WriteLine($"{model}, K = {k}, A = {accumulation}, seed {config.Seed}: worst relative difference {worst:E2} at {where}");
        Assert.True(worst <= Tolerance,
            $"K = {k} ranks differ from one process with the {k}-fold batch by {worst:E2} at {where} (seed {config.Seed})");
        Assert.Equal(0, Compare(ranks[0], ranks[1]).Worst); // every rank holds the same weights, bit for bit

        // The comparison can fail: one process with the undoubled batch is far off.
        var (undoubled, _) = Compare(TrainOne(config), ranks[0]);
        Assert.True(undoubled > 100 * Tolerance, $"the undoubled batch is only {undoubled:E2} away (seed {config.Seed}): the test cannot tell");
    }

    [Fact]
    public void Ranks_with_different_configs_are_refused_at_start_naming_the_key()
    {
        var config = Tiny();
        var e = Assert.Throws<ArgumentException>(() => InProcessGroup.Run(2, c =>
        {
            var mine = c.Rank == 1 ? config with { LearningRate = 1e-3 } : config;
            using var trainer = new Trainer(TestBackends.Cpu, mine, TrainingRun.Data(mine), null, TextWriter.Null, c);
            return 0;
        }));
        output.WriteLine(e.Message);
        Assert.Contains("rank(s) 1 of 2 differ from rank 0", e.Message);
        // Whichever rank's error is reported, every rank refused: run again and collect each one's.
        var errors = InProcessGroup.Run(2, c =>
        {
            var mine = c.Rank == 1 ? config with { LearningRate = 1e-3 } : config;
            try
            {
                using var trainer = new Trainer(TestBackends.Cpu, mine, TrainingRun.Data(mine), null, TextWriter.Null, c);
                return "";
            }
            catch (ArgumentException a)
            {
                return a.Message;
            }
        });
        Assert.All(errors, m => Assert.Contains("rank 1 differs from rank 0 in learning_rate: rank 0 has 0.003, rank 1 has 0.001", m));
        Assert.Equal(errors[0], errors[1]); // the same message whichever rank ends the job first
    }

    [Fact]
    public void Rank_0_alone_writes_and_a_resumed_job_continues_exactly_where_a_straight_one_would()
    {
        var config = Tiny() with { Steps = 6, CheckpointEvery = 2 };
        string Dir(string run, int rank) => Path.Combine(_dir, run, $"rank{rank}");
        var straight = InProcessGroup.Run(2, c =>
        {
            using var trainer = new Trainer(TestBackends.Cpu, config, TrainingRun.Data(config), Dir("straight", c.Rank), TextWriter.Null, c);
            trainer.Run();
            return Parameters(trainer);
        });
        Assert.True(Directory.Exists(Dir("straight", 0)));
        Assert.False(Directory.Exists(Dir("straight", 1)), "rank 1 wrote to its output directory");

        // Rank 1 asks to stop during step 3; the request travels with step 4's all-reduce, so both ranks stop after
        // step 4 (rank 0 saves it), then fresh trainers resume.
        InProcessGroup.Run(2, c =>
        {
            using var stop = new CancellationTokenSource();
            using var trainer = new Trainer(TestBackends.Cpu, config, TrainingRun.Data(config), Dir("cut", 0), TextWriter.Null, c);
            trainer.StepCompleted += step =>
            {
                if (step == 3 && c.Rank == 1)
                {
                    stop.Cancel(); // one rank's stop request stops both, at the same step
                }
            };
            trainer.Run(stop.Token);
            Assert.Equal(4, trainer.Step);
            return 0;
        });
        var resumed = InProcessGroup.Run(2, c =>
        {
            // Only rank 0 reads the checkpoint; rank 1 gets everything by broadcast.
            string dir = c.Rank == 0 ? Dir("cut", 0) : Dir("cut-missing", 1);
            using var trainer = new Trainer(TestBackends.Cpu, config, TrainingRun.Data(config), dir, TextWriter.Null, c);
            trainer.Resume();
            Assert.Equal(4, trainer.Step);
            trainer.Run();
            return Parameters(trainer);
        });
        Assert.Equal(0, Compare(straight[0], resumed[0]).Worst);
        Assert.Equal(0, Compare(straight[0], resumed[1]).Worst);
    }

    [Fact]
    public void Every_rank_starts_from_rank_0s_weights()
    {
        // Different init seeds cannot pass the config check, so start from models initialised differently by hand.
        var config = Tiny();
        var data = TrainingRun.Data(config);
        var weights = InProcessGroup.Run(2, c =>
        {
            var model = TrainingRun.CreateModel(TestBackends.Cpu, config with { Seed = config.Seed + (ulong)c.Rank }, data.Vocabulary);
            using var trainer = new Trainer(model, config, data, null, TextWriter.Null, c);
            return Parameters(trainer);
        });
        using var reference = new Trainer(TestBackends.Cpu, config, data, null, TextWriter.Null);
        Assert.Equal(0, Compare(Parameters(reference), weights[1]).Worst);
    }
}
