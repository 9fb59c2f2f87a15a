using System.Text.Json.Nodes;
using Lddm.Autograd;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Checkpoints;
using Lddm.Training.Diffusion;
using Lddm.Training.Runs;
using Lddm.Training.Seq;
using Lddm.Training.Tests.Fuji;
using Xunit;
using Xunit.Abstractions;
using static Lddm.Training.Tests.Fuji.FujiTestModels;

namespace Lddm.Training.Tests.Seq;

/// <summary>prior_repeats: SEQ's prior term averaged over K (t, ε) draws per sequence; and config keys newer than a checkpoint.</summary>
public sealed class PriorRepeatsTests(ITestOutputHelper output)
{
    private const int B = 3;

    private static SeqModel Tiny(TrainConfig config, int seed)
    {
        var model = SeqModel.Create(TestBackends.Cpu, RunOptions.Seq(config), Denoiser(), Encoder(), Prior());
        Randomize(model.Network, seed);
        return model;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void With_a_zero_prior_the_term_is_the_float64_mean_square_of_y0_for_any_K(int k)
    {
        int seed = Environment.TickCount & 0xFFFF;
        using var model = Tiny(Config("seq", "stage=2", $"prior_repeats={k}"), seed);
        Assert.Equal(k, model.Objective.PriorRepeats);
        model.Prior.Final.Proj.Weight.Load(new float[model.Prior.Final.Proj.Weight.Shape.Elements]);
        model.Prior.Final.Proj.Bias!.Load(new float[model.Prior.Final.Proj.Bias.Shape.Elements]);
        var x0 = Tokens(new Random(seed), B * L);
        double expected;
        using (var tape = Tape.Begin())
        {
            using var off = Grad.Off();
            var y0 = model.Encoder!.Encode(IntTensor.FromArray(TestBackends.Cpu, x0, B, L)).ToArray();
            expected = y0.Sum(v => (double)v * v) / y0.Length; // ŷ₀ = 0 at every t: ‖y₀‖² per coordinate, whatever the draws
        }
        using var t2 = Tape.Begin();
        var loss = (LddmLoss)model.Loss(x0, B, L, seed: 5, step: 3, null);
        Assert.Equal(expected, loss.Latent!.Value.Item(), 1e-5 * Math.Max(1, expected));
    }

    [Fact]
    public void The_repeated_prior_term_has_the_finite_difference_gradient()
    {
        using var model = Tiny(Config("seq", "stage=2", "prior_repeats=3", "elbo_weighting=false"), 11);
        var norms = CheckGradients(model, Tokens(new Random(2), B * L), B, seed: 9, step: 2, ["prior.blocks.", "prior.final.", "prior.patch_in"], output);
        Assert.Contains(norms, n => n.Key.StartsWith("prior.", StringComparison.Ordinal) && n.Value > 0);
    }

    [Fact]
    public void A_key_newer_than_a_checkpoint_counts_as_its_default()
    {
        var current = new TrainConfig { Model = "seq", Stage = 2 }.ToJson();
        var old = current.DeepClone().AsObject();
        old.Remove("prior_repeats");
        var defaults = new TrainConfig().ToJson();
        Assert.Empty(ConfigDiff.Between(old, current, defaults));
        Assert.NotEmpty(ConfigDiff.Between(old, current)); // without defaults the missing key is a difference
        var changed = (new TrainConfig { Model = "seq", Stage = 2, PriorRepeats = 4 }).ToJson();
        var diff = Assert.Single(ConfigDiff.Between(old, changed, defaults));
        Assert.Contains("prior_repeats", diff, StringComparison.Ordinal);
        Assert.Empty(ConfigDiff.Between(JsonNode.Parse("{\"a\":1}"), JsonNode.Parse("{\"a\":1}"), new JsonObject()));
    }
}
