using System.Reflection;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Checkpoints;
using Lddm.Training.Engine;
using Lddm.Training.Runs;
using Xunit;

namespace Lddm.Training.Tests.Runs;

/// <summary>
/// The host-facing API: train from code with progress and cancellation (<see cref="LddmTraining"/>), load a run for
/// inference and generate (<see cref="LddmModel"/>), and the composition root's promise that method folders never see
/// the flat config.
/// </summary>
public sealed class ApiTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-api-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static TrainConfig Tiny(string model, int steps) => new()
    {
        Model = model,
        Data = "sawtooth",
        Preset = "xxs",
        EncoderPreset = "xxs",
        Length = 8,
        Batch = 4,
        Steps = steps,
        WarmupSteps = 1,
        LogEvery = 1,
        EvalEvery = 0,
        EvalSequences = 4,
        CheckpointEvery = 0,
        Seed = (ulong)Random.Shared.Next(1, 1 << 30),
    };

    [Theory]
    [InlineData("mdlm")]
    [InlineData("seq")]
    public void A_trained_run_loads_with_its_EMA_weights_and_generates_what_the_trainer_generated(string kind)
    {
        var config = Tiny(kind, 6);
        string dir = Path.Combine(_dir, kind);
        var reports = new List<TrainingProgress>();
        int[]? expected = null;
        var options = new GenerateOptions { Count = 3, Steps = 4, Seed = (ulong)Random.Shared.Next() };
        var result = LddmTraining.Train(TestBackends.Cpu, config, dir, new LddmTrainingOptions
        {
            Progress = new SynchronousProgress<TrainingProgress>(reports.Add),
            Finished = trainer =>
            {
                // The trainer's EMA weights, in eval mode: what a loaded checkpoint must reproduce.
                trainer.Ema.SwapInto();
                trainer.Model.Network.Eval();
                expected = trainer.Model.Generate(options.Count, config.Length, options.Steps, options.Seed).Tokens;
                trainer.Model.Network.Train();
                trainer.Ema.SwapInto();
            },
        });
        Assert.True(result.Completed);
        Assert.Equal(Path.GetFullPath(dir), result.Directory);
        Assert.True(double.IsFinite(result.ValidationNelbo));
        // Every step reported (log_every = 1), an evaluation and a checkpoint at the end; SEQ's two stages say which.
        var steps = reports.Where(r => r.Event == TrainingEvent.Step).ToList();
        Assert.All(steps, r => Assert.True(double.IsFinite(r.Loss) && double.IsFinite(r.Nelbo) && r.TokensPerSecond > 0));
        Assert.Equal(config.Steps, steps.Count);
        Assert.Contains(reports, r => r.Event == TrainingEvent.Evaluation && r.Validation is not null);
        Assert.Contains(reports, r => r.Event == TrainingEvent.Checkpoint && r.Checkpoint is not null);
        Assert.Equal(kind == "seq" ? [1, 2] : [0], steps.Select(r => r.Stage).Distinct().Order());

        using var model = LddmModel.Load(dir, TestBackends.Cpu);
        Assert.Equal(kind, model.Kind);
        var generation = model.Generate(options);
        Assert.Equal(expected, generation.Tokens);
        Assert.Equal(options.Count, generation.Texts.Count);
        for (int i = 0; i < options.Count; i++)
        {
            Assert.All(generation.Sequence(i).ToArray(), t => Assert.InRange(t, 0, model.Data.Vocabulary - 1));
            Assert.Equal(model.Data.Decode(generation.Sequence(i)), generation.Texts[i]);
        }
    }

    [Fact]
    public void A_cancelled_run_saves_a_checkpoint_and_resumes_to_the_end()
    {
        var config = Tiny("mdlm", 8);
        string dir = Path.Combine(_dir, "cancel");
        int stopAt = Random.Shared.Next(2, 6);
        using var stop = new CancellationTokenSource();
        var first = LddmTraining.Train(TestBackends.Cpu, config, dir, new LddmTrainingOptions
        {
            Progress = new SynchronousProgress<TrainingProgress>(r =>
            {
                if (r.Event == TrainingEvent.Step && r.Step == stopAt)
                {
                    stop.Cancel();
                }
            }),
        }, stop.Token);
        Assert.False(first.Completed);
        Assert.Equal(stopAt, first.Step);
        Assert.Equal(stopAt, new CheckpointStore(dir).ReadState().Step);

        var refused = Assert.Throws<ArgumentException>(() => LddmTraining.Train(TestBackends.Cpu, config, dir));
        Assert.Contains("not empty", refused.Message, StringComparison.Ordinal);

        var resumed = LddmTraining.Train(TestBackends.Cpu, config, dir, new LddmTrainingOptions { Resume = true });
        Assert.True(resumed.Completed);
        Assert.Equal(config.Steps, new CheckpointStore(dir).ReadState().Step);
    }

    [Fact]
    public void Bad_generate_options_and_a_missing_checkpoint_are_one_clear_error()
    {
        string empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        var missing = Assert.Throws<FileNotFoundException>(() => LddmModel.Load(empty, TestBackends.Cpu));
        Assert.Contains(empty, missing.Message, StringComparison.Ordinal);

        var config = Tiny("mdlm", 2);
        string dir = Path.Combine(_dir, "small");
        LddmTraining.Train(TestBackends.Cpu, config, dir);
        using var model = LddmModel.Load(dir, TestBackends.Cpu);
        Assert.Contains("Count", Assert.Throws<ArgumentOutOfRangeException>(() => model.Generate(new GenerateOptions { Count = 0 })).Message, StringComparison.Ordinal);
        Assert.Contains("Steps", Assert.Throws<ArgumentOutOfRangeException>(() => model.Generate(new GenerateOptions { Steps = 0 })).Message, StringComparison.Ordinal);
        Assert.Contains("Temperature", Assert.Throws<ArgumentOutOfRangeException>(() => model.Generate(new GenerateOptions { Temperature = float.NaN })).Message, StringComparison.Ordinal);
        Assert.Contains("FUJI", Assert.Throws<ArgumentException>(() => model.Generate(new GenerateOptions { SequentialLatentSteps = 2 })).Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The method folders (and the engine) take typed options: no type there has a field, property, constructor or
    /// method that mentions <see cref="TrainConfig"/>. Only Runs/ reads it.
    /// </summary>
    [Fact]
    public void Only_the_composition_root_sees_the_flat_config()
    {
        string[] methodFolders = ["Mdlm", "Fuji", "Seq", "Ar", "Diffusion", "Encoders", "Engine", "Evaluation", "Optim", "Checkpoints", "Distributed"];
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var offenders = new List<string>();
        foreach (var type in typeof(TrainConfig).Assembly.GetTypes())
        {
            string ns = type.Namespace ?? "";
            if (!methodFolders.Any(f => ns == $"Lddm.Training.{f}" || ns.StartsWith($"Lddm.Training.{f}.", StringComparison.Ordinal)))
            {
                continue;
            }
            foreach (var member in type.GetMembers(all))
            {
                var types = member switch
                {
                    FieldInfo f => [f.FieldType],
                    PropertyInfo p => [p.PropertyType],
                    MethodBase m => m.GetParameters().Select(p => p.ParameterType).Append(m is MethodInfo mi ? mi.ReturnType : typeof(void)),
                    _ => Enumerable.Empty<Type>(),
                };
                if (types.Any(Mentions))
                {
                    offenders.Add($"{type.FullName}.{member.Name}");
                }
            }
        }
        Assert.Empty(offenders);

        static bool Mentions(Type t) => t == typeof(TrainConfig) || (t.IsGenericType && t.GetGenericArguments().Any(Mentions))
            || (t.HasElementType && Mentions(t.GetElementType()!)) || (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(ValueTuple<,>) && t.GetGenericArguments().Any(Mentions));
    }
}
