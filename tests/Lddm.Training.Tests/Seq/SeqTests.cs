using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models;
using Lddm.Training.Data;
using Lddm.Training.Diffusion;
using Lddm.Training.Encoders;
using Lddm.Training.Mdlm;
using Lddm.Training.Optim;
using Lddm.Training.Runs;
using Lddm.Training.Seq;
using Lddm.Training.Tests.Fuji;
using Xunit;
using Xunit.Abstractions;
using static Lddm.Training.Tests.Fuji.FujiTestModels;

namespace Lddm.Training.Tests.Seq;

public sealed class SeqTests(ITestOutputHelper output)
{
    private const int B = 3;

    private static SeqModel Tiny(Backend backend, TrainConfig config, int seed = 7)
    {
        var model = SeqModel.Create(backend, RunOptions.Seq(config), Denoiser(), config.AllZeroLatent ? null : Encoder(), Prior());
        Randomize(model.Network, seed);
        return model;
    }

    [Fact]
    public void StageOneTrainsEncoderAndDecoderAndLeavesThePrior()
    {
        using var model = Tiny(TestBackends.Cpu, Config("seq", "stage=1", "elbo_weighting=false"));
        var x0 = Tokens(new Random(3), B * L);
        string[] groups = ["encoder.blocks.", "encoder.final.", "decoder.blocks.0.tokens.", "decoder.blocks.0.latent.qkv",
            "decoder.final_x.", "decoder.latent_in", "decoder.embed"];
        var norms = CheckGradients(model, x0, B, seed: 9, step: 2, groups, output);
        Assert.All(norms.Where(n => n.Key.StartsWith("prior.", StringComparison.Ordinal)), n => Assert.Equal(0.0, n.Value));
        Assert.All(model.TrainableParameters, p => Assert.True(p.Name.StartsWith("encoder.", StringComparison.Ordinal) || p.Name.StartsWith("decoder.", StringComparison.Ordinal)));
        output.WriteLine($"parameters: decoder {model.Decoder.ParameterCount}, encoder {model.LearnedEncoder!.ParameterCount}, prior {model.Prior.ParameterCount}");
    }

    [Theory]
    [InlineData("y0", "mse")]
    [InlineData("eps", "elbo")]
    public void StageTwoTrainsPriorAndDecoderAndFreezesTheEncoder(string prediction, string latentLoss)
    {
        using var model = Tiny(TestBackends.Cpu, Config("seq", "stage=2", "elbo_weighting=false", $"latent_prediction={prediction}", $"latent_loss={latentLoss}"));
        var x0 = Tokens(new Random(4), B * L);
        string[] groups = ["prior.blocks.", "prior.final.", "prior.patch_in", "prior.time.", "decoder.blocks.0.tokens.", "decoder.final_x."];
        var norms = CheckGradients(model, x0, B, seed: 9, step: 2, groups, output);
        Assert.All(norms.Where(n => n.Key.StartsWith("encoder.", StringComparison.Ordinal)), n => Assert.Equal(0.0, n.Value));
        Assert.All(model.TrainableParameters, p => Assert.False(p.Name.StartsWith("encoder.", StringComparison.Ordinal)));
        Assert.Contains(model.TrainableParameters, p => p.Name.StartsWith("prior.", StringComparison.Ordinal));
    }

    [Fact]
    public void BothStagesHoldTheSameNetworkSoAStageOneCheckpointLoadsIntoStageTwo()
    {
        using var one = Tiny(TestBackends.Cpu, Config("seq", "stage=1"));
        using var two = Tiny(TestBackends.Cpu, Config("seq", "stage=2"));
        Assert.Equal(one.Network.NamedParameters().Select(p => p.Name), two.Network.NamedParameters().Select(p => p.Name));
        Assert.Equal(2, two.Stage);
        var e = Assert.Throws<ArgumentException>(() => Tiny(TestBackends.Cpu, Config("seq", "stage=0")));
        Assert.Contains("stage = 0", e.Message, StringComparison.Ordinal);

        var config = Config("seq", "stage=2", "preset=tiny", "encoder_preset=tiny", "dropout=0.1");
        using var preset = TrainingRun.Seq(TestBackends.Cpu, config, K);
        Assert.Equal(LatentDiTConfig.From(DiTConfig.Tiny(K + 1, L) with { Dropout = 0.1f }, P, D), preset.Prior.Config);
        Assert.Equal(MmDiTConfig.From(TrainingRun.ModelConfig(config, K), P, D), preset.Decoder.Config);
        output.WriteLine($"preset tiny: decoder {preset.Decoder.ParameterCount}, encoder {preset.LearnedEncoder!.ParameterCount}, prior {preset.Prior.ParameterCount} parameters");
    }

    /// <summary>
    /// The decoder's token loss with a zero latent (all_zero_latent, or p_cfg = 1 which zeroes the decoder's y₀) is
    /// exactly MDLM's loss of the decoder on (x_t, 0, t_y = 0) through the shared objective; p_cfg leaves the prior's
    /// latent term alone.
    /// </summary>
    [Theory]
    [InlineData("all_zero_latent=true")]
    [InlineData("latent_dropout=1")]
    public void AZeroLatentDecoderIsMdlmThroughTheSharedObjective(string setting)
    {
        var backend = TestBackends.Cpu;
        var x0 = Tokens(new Random(5), B * L);
        using var model = Tiny(backend, Config("seq", "stage=2", setting, "latent_weight=2.5"));
        using var tape = Tape.Begin();
        var seq = (LddmLoss)model.Loss(x0, B, L, seed: 11, step: 4, null);
        var zeros = Tensor.Zeros(backend, new Shape(B, P, D));
        var mdlm = model.Objective.Tokens.Loss(backend, K + 1, (noisy, cond) => model.Decoder.Forward(noisy, zeros, cond, new float[B]).Logits,
            x0, B, L, seed: 11, step: 4);
        Assert.Equal(mdlm.Value.Item(), seq.Tokens.Value.Item());
        Assert.Equal(mdlm.NelboPerToken(), seq.Tokens.NelboPerToken());
        if (setting.StartsWith("all_zero", StringComparison.Ordinal))
        {
            Assert.Null(seq.Latent);
            Assert.Equal(mdlm.Value.Item(), seq.Value.Item());
        }
        else
        {
            Assert.True(seq.Latent!.Value.Item() > 0, "p_cfg drops the decoder's latent, not the prior's");
        }
    }

    [Fact]
    public void StageTwoElboWeightsMakeTheLossTheNelboAndTheLossReplays()
    {
        using var model = Tiny(TestBackends.Cpu, Config("seq", "stage=2", "latent_loss=elbo", "latent_dropout=0.5", "encoder_corruption=false"));
        var x0 = Tokens(new Random(6), B * L);
        using (var tape = Tape.Begin())
        {
            var loss = (LddmLoss)model.Loss(x0, B, L, seed: 3, step: 7, null);
            double value = loss.Value.Item(), nelbo = loss.NelboPerToken();
            output.WriteLine($"loss {value:R}, NELBO {nelbo:R}");
            Assert.True(loss.Latent!.NelboPerToken() > 0);
            Assert.True(Math.Abs(value - nelbo) <= 1e-5 * (1 + Math.Abs(nelbo)), $"loss {value} vs NELBO {nelbo}.");
        }
        double first = LossValue(model, x0, B, seed: 3, step: 8);
        Assert.Equal(first, LossValue(model, x0, B, seed: 3, step: 8));
        Assert.NotEqual(first, LossValue(model, x0, B, seed: 3, step: 9));
    }

    [Theory]
    [InlineData("ddim", 0)]
    [InlineData("ddpm", 2)]
    public void SamplerGivesTheSameTokensOnBothBackendsAndCountsBothNetworks(string sampler, int latentSteps)
    {
        var config = Config("seq", "stage=2", $"latent_sampler={sampler}", $"latent_steps={latentSteps}");
        const int count = 2, steps = 4;
        var runs = TestBackends.All.Select(backend =>
        {
            using var model = Tiny(backend, config);
            model.Network.Eval();
            var snapshots = new List<int[]> { Enumerable.Repeat(K, count * L).ToArray() };
            var run = model.Sampler.Run(model.Prior, model.Decoder, count, L, steps, seed: 42, temperature: 0.9f,
                afterStep: (_, x) => snapshots.Add((int[])x.Clone()));
            int decoderCalls = 0;
            for (int k = 0; k <= steps && !(k == steps && !snapshots[k].Contains(K)); k++)
            {
                decoderCalls += k == 0 || !snapshots[k].SequenceEqual(snapshots[k - 1]) ? 1 : 0; // cached otherwise
            }
            int priorCalls = (latentSteps == 0 ? steps : latentSteps) + 1;
            Assert.Equal(priorCalls + decoderCalls, run.Nfe);
            return run;
        }).ToArray();
        Assert.Equal(runs[0].Tokens, runs[1].Tokens);
        Assert.All(runs[1].Tokens, v => Assert.InRange(v, 0, K - 1));
        Numerics.AssertClose(runs[0].Latent.Select(v => (double)v).ToArray(), runs[1].Latent, 1e-4, "sampled latent, cpu vs ilgpu-cpu");
    }

    /// <summary>N_lat = 1: y ~ N(0, I), the prior at t = 1, a float64 DDIM step to t_ε, then y = the prior's ŷ₀ at t_ε.</summary>
    [Fact]
    public void LatentChainMatchesFloat64AndAllZeroLatentSkipsThePrior()
    {
        const int count = 2;
        const ulong seed = 8;
        var backend = TestBackends.Cpu;
        using var model = Tiny(backend, Config("seq", "stage=2", "latent_steps=1"));
        model.Network.Eval();
        var run = model.Sampler.Run(model.Prior, model.Decoder, count, L, steps: 2, seed);

        float[] Prior(float[] y, float t)
        {
            using var tape = Tape.Begin();
            return model.Prior.Forward(Tensor.FromArray(backend, y, count, P, D), [t, t]).ToArray();
        }
        var yInit = Enumerable.Range(0, count * P * D).Select(i => Philox.Normal(seed, LatentSampling.InitialStream, i)).ToArray();
        var y1 = LatentStep(model.Sampler.Chain, ddpm: false, yInit, Prior(yInit, 1f), 1, MdlmSampler.TimeFloor, seed, 0);
        var expected = Prior([.. y1.Select(v => (float)v)], (float)MdlmSampler.TimeFloor);
        Numerics.AssertClose(expected.Select(v => (double)v).ToArray(), run.Latent, 1e-5, "SEQ latent after N_lat = 1");

        using var dead = Tiny(backend, Config("seq", "stage=2", "all_zero_latent=true"));
        dead.Network.Eval();
        var zero = dead.Generate(count, L, steps: 3, seed);
        Assert.InRange(zero.Nfe, 1, 4); // decoder calls only
        Assert.All(zero.Tokens, v => Assert.InRange(v, 0, K - 1));
    }

    /// <summary>
    /// Stage 1 (40 AdamW steps on sawtooth) lowers the decoder's token loss; its weights, copied by name into a stage-2
    /// model, give the same token loss there, and 40 stage-2 steps lower the prior's latent loss.
    /// </summary>
    [Fact]
    public void StageOneThenStageTwoTrainingLowersBothTerms()
    {
        const int length = 16, batch = 16, steps = 40;
        var data = new SawtoothData(new SawtoothConfig(length, 2, 0.01));
        var sizes = (Decoder: new MmDiTConfig(32, 1, 2, 16, 3, length, 1, 8), Encoder: new DiTEncoderConfig(32, 1, 2, 16, 3, length, 1, 8),
            Prior: new LatentDiTConfig(32, 1, 2, 16, 1, 8));
        TrainConfig Stage(int stage) => new TrainConfig { Model = "seq", Data = "sawtooth", Length = length, LatentPatches = 1, LatentDim = 8, Stage = stage, Seed = 3 }.Validate();
        var held = new int[batch * length];
        data.TrainBatch(99, 0, batch, held);
        (double Tokens, double Latent) Held(SeqModel model)
        {
            model.Network.Eval();
            double tokens = 0, latent = 0;
            for (int s = 0; s < 4; s++)
            {
                using var tape = Tape.Begin();
                var loss = (LddmLoss)model.Loss(held, batch, length, seed: 77, step: s, null);
                tokens += loss.Tokens.Value.Item() / 4;
                latent += (loss.Latent?.Value.Item() ?? 0) / 4;
            }
            model.Network.Train();
            return (tokens, latent);
        }
        void Train(SeqModel model)
        {
            using var optimizer = new AdamW(model.TrainableParameters, new AdamWConfig());
            var x0 = new int[batch * length];
            for (int step = 0; step < steps; step++)
            {
                data.TrainBatch(3, step, batch, x0);
                model.Network.ZeroGrad();
                using var tape = Tape.Begin();
                model.Loss(x0, batch, length, 3, step, null).Value.Backward();
                optimizer.Step(1e-2);
            }
        }

        using var one = SeqModel.Create(TestBackends.Cpu, RunOptions.Seq(Stage(1)), sizes.Decoder, sizes.Encoder, sizes.Prior);
        var start = Held(one);
        Train(one);
        var afterOne = Held(one);
        using var two = SeqModel.Create(TestBackends.Cpu, RunOptions.Seq(Stage(2)), sizes.Decoder, sizes.Encoder, sizes.Prior);
        var weights = one.Network.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToArray());
        foreach (var (name, p) in two.Network.NamedParameters())
        {
            p.Load(weights[name]);
        }
        var startTwo = Held(two);
        Train(two);
        var afterTwo = Held(two);
        output.WriteLine($"stage 1: tokens {start.Tokens:F4} → {afterOne.Tokens:F4}; stage 2: tokens {startTwo.Tokens:F4} → {afterTwo.Tokens:F4}, prior {startTwo.Latent:F4} → {afterTwo.Latent:F4}");
        Assert.True(afterOne.Tokens < start.Tokens - 0.01, $"stage-1 token loss {start.Tokens} → {afterOne.Tokens}"); // its floor, the data entropy, is ≈ 0.5 nats
        Assert.Equal(afterOne.Tokens, startTwo.Tokens, 6);
        Assert.True(afterTwo.Latent < 0.5 * startTwo.Latent, $"stage-2 prior loss {startTwo.Latent} → {afterTwo.Latent}");
    }
}
