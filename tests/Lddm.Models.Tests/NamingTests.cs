using Lddm.Autograd;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Models.Tests;

/// <summary>Parameter names are the checkpoint keys: dotted, unique, and the same for every build of a config.</summary>
public sealed class NamingTests
{
    [Fact]
    public void Dit_parameter_names_are_unique_stable_and_dotted()
    {
        var config = DiTConfig.Tiny(9, 16) with { Layers = 2 };
        using var a = new DiT(TestBackends.Cpu, config);
        using var b = new DiT(TestBackends.Cpu, config);
        var names = a.NamedParameters().Select(np => np.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Equal(names, b.NamedParameters().Select(np => np.Name));
        Assert.Equal(
            [
                "embed.weight",
                "time.fc1.weight", "time.fc1.bias", "time.fc2.weight", "time.fc2.bias",
                "blocks.0.attn.qkv.weight", "blocks.0.attn.out.weight",
                "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc1.bias", "blocks.0.mlp.fc2.weight", "blocks.0.mlp.fc2.bias",
                "blocks.0.modulation.weight", "blocks.0.modulation.bias",
            ],
            names.Take(13));
        Assert.Contains("blocks.1.modulation.bias", names);
        Assert.Equal(["final.modulation.weight", "final.modulation.bias", "final.linear.weight", "final.linear.bias"], names.TakeLast(4));
    }

    [Fact]
    public void Parameter_count_matches_the_architecture()
    {
        const int h = 64, cond = 32, vocab = 9, layers = 2;
        using var model = new DiT(TestBackends.Cpu, DiTConfig.Tiny(vocab, 16) with { Layers = layers });
        long block = (h * 3 * h) + (h * h) + (h * 4 * h) + (4 * h) + (4 * h * h) + h + (cond * 6 * h) + (6 * h);
        long expected = (vocab * h) + (256 * cond) + cond + (cond * cond) + cond + (layers * block)
            + (cond * 2 * h) + (2 * h) + (h * vocab) + vocab;
        Assert.Equal(expected, model.ParameterCount);
    }

    [Fact]
    public void Fresh_dit_predicts_zero_logits()
    {
        var backend = TestBackends.Cpu;
        using var model = new DiT(backend, DiTConfig.Tiny(9, 16) with { Layers = 2 });
        model.Initialize(1);
        using var tape = Tape.Begin();
        var logits = model.Forward(IntTensor.FromArray(backend, [1, 2, 3, 4, 5, 6], 2, 3), [0.2f, 0.9f]);
        Assert.Equal([2, 3, 9], logits.Shape.ToArray());
        Assert.All(logits.ToArray(), v => Assert.Equal(0f, v));
    }
}
