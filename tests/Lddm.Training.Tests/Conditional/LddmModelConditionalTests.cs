using Lddm.Kernels.Tests.Support;
using Lddm.Training.Conditional;
using Lddm.Training.Runs;
using Xunit;

namespace Lddm.Training.Tests.Conditional;

/// <summary>The library's one call: a loaded run completes a template (GenerateOptions.Template / Block).</summary>
public sealed class LddmModelConditionalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-cond-api-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_loaded_run_completes_a_template_keeping_its_tokens_and_decodes_them()
    {
        var config = new TrainConfig
        {
            Model = "mdlm",
            Data = "sawtooth",
            Preset = "xxs",
            Length = 8,
            Batch = 4,
            Steps = 2,
            WarmupSteps = 1,
            LogEvery = 1,
            EvalEvery = 0,
            EvalSequences = 4,
            CheckpointEvery = 0,
            Seed = 11,
        };
        string dir = Path.Combine(_dir, "run");
        LddmTraining.Train(TestBackends.Cpu, config, dir);
        using var model = LddmModel.Load(dir, TestBackends.Cpu);
        var template = GenerationTemplate.FromPrefix([1, 0, 1], 8, model.Data.Vocabulary);
        var generation = model.Generate(new GenerateOptions { Count = 3, Steps = 4, Template = template, Block = 3 });
        Assert.Equal(8, generation.Length);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal([1, 0, 1], generation.Sequence(i)[..3].ToArray());
            Assert.All(generation.Sequence(i).ToArray(), t => Assert.InRange(t, 0, model.Data.Vocabulary - 1));
            Assert.StartsWith("101", generation.Texts[i], StringComparison.Ordinal);
        }
        var free = model.Generate(new GenerateOptions { Count = 2, Steps = 4, Seed = 5, Template = GenerationTemplate.Free(8, model.Data.Vocabulary) });
        Assert.Equal(model.Generate(new GenerateOptions { Count = 2, Steps = 4, Seed = 5 }).Tokens, free.Tokens);
        Assert.Contains("K = 2", Assert.Throws<ArgumentException>(() => model.Generate(new GenerateOptions { Template = GenerationTemplate.Free(8, 5) })).Message,
            StringComparison.Ordinal);
    }
}
