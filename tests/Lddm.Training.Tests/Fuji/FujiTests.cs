using System.Diagnostics;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models;
using Lddm.Training.Data;
using Lddm.Training.Diffusion;
using Lddm.Training.Encoders;
using Lddm.Training.Fuji;
using Lddm.Training.Mdlm;
using Lddm.Training.Optim;
using Lddm.Training.Runs;
using Lddm.Training.Tests.Diffusion;
using Xunit;
using Xunit.Abstractions;
using static Lddm.Training.Tests.Fuji.FujiTestModels;

namespace Lddm.Training.Tests.Fuji;

public sealed class FujiTests(ITestOutputHelper output)
{
    private const int B = 3;

    private static FujiModel Tiny(Backend backend, TrainConfig config, int seed = 7)
    {
        var model = FujiModel.Create(backend, RunOptions.Fuji(config), Denoiser(), config.AllZeroLatent ? null : Encoder());
        Randomize(model.Network, seed);
        return model;
    }

    [Theory]
    [InlineData("y0", "mse", false)]
    [InlineData("eps", "elbo", true)]
    public void GradientsReachTheEncoderBothStreamsAndBothHeads(string prediction, string latentLoss, bool corruption)
    {
        var config = Config("fuji", "elbo_weighting=false", $"latent_prediction={prediction}", $"latent_loss={latentLoss}", "latent_weight=0.7",
            $"encoder_corruption={(corruption ? "true" : "false")}", "latent_normalize=true");
        using var model = Tiny(TestBackends.Cpu, config);
        var x0 = Tokens(new Random(3), B * L);
        string[] groups = ["encoder.blocks.", "encoder.final.", "denoiser.blocks.0.tokens.", "denoiser.blocks.0.latent.",
            "denoiser.final_x.", "denoiser.final_y.", "denoiser.latent_in", "denoiser.time_y."];
        var norms = CheckGradients(model, x0, B, seed: 9, step: 2, groups, output);
        Assert.Equal(model.TrainableParameters.Select(p => p.Name), norms.Keys);
        output.WriteLine($"parameters: denoiser {model.Denoiser.ParameterCount}, encoder {model.LearnedEncoder!.ParameterCount}");
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void AllZeroLatentIsMdlmThroughTheSharedObjective(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        var x0 = Tokens(new Random(4), B * L);
        float? previous = null;
        foreach (string weight in new[] { "latent_weight=3.7", "latent_weight=0" })
        {
            using var model = Tiny(backend, Config("fuji", "all_zero_latent=true", weight));
            Assert.Null(model.Encoder);
            using var tape = Tape.Begin();
            var fuji = model.Loss(x0, B, L, seed: 11, step: 4, null);

            var objective = model.Objective.Tokens;
            var draw = objective.Draw(x0, B, L, K, seed: 11, step: 4);
            var tY = Array.ConvertAll(draw.Times, t => (float)t);
            var zeros = Tensor.Zeros(backend, new Shape(B, P, D));
            var mdlm = objective.Loss(backend, K + 1, (noisy, cond) => model.Denoiser.Forward(noisy, zeros, cond, tY).Logits, x0, B, L, seed: 11, step: 4);

            float value = fuji.Value.Item();
            output.WriteLine($"{backendName} {weight}: FUJI {value:R}, MDLM {mdlm.Value.Item():R}; NELBO {fuji.NelboPerToken():R}");
            Assert.Equal(mdlm.Value.Item(), value);
            Assert.Equal(mdlm.NelboPerToken(), fuji.NelboPerToken());
            Assert.True(previous is null || previous == value, "the latent weight must not matter with a dead latent");
            previous = value;
        }
    }

    [Fact]
    public void LatentDropoutOfOneMakesTheLatentLossExactlyZero()
    {
        using var model = Tiny(TestBackends.Cpu, Config("fuji", "latent_dropout=1"));
        var x0 = Tokens(new Random(5), B * L);
        using (var tape = Tape.Begin())
        {
            var loss = (LddmLoss)model.Loss(x0, B, L, seed: 2, step: 1, null);
            Assert.Equal(0f, loss.Latent!.Value.Item());
            Assert.Equal(0.0, loss.Latent.NelboPerToken());
            Assert.Equal(loss.Tokens.Value.Item(), loss.Value.Item());
            loss.Value.Backward();
            var headGrad = model.Denoiser.FinalLatent.Proj.Weight.Grad?.ToArray() ?? [];
            Assert.All(headGrad, g => Assert.Equal(0f, g)); // the latent head is trained by nothing
        }
        model.Network.ZeroGrad();
        model.Network.Eval(); // dropout is a training-mode draw: evaluation keeps every latent
        using (var tape = Tape.Begin())
        {
            var loss = (LddmLoss)model.Loss(x0, B, L, seed: 2, step: 1, null);
            Assert.True(loss.Latent!.Value.Item() > 0);
        }
    }

    /// <summary>With ELBO weights on both terms and no dropout the loss is the NELBO estimate (float32 vs float64).</summary>
    [Theory]
    [InlineData("y0")]
    [InlineData("eps")]
    public void ElboWeightsMakeTheLossTheNelbo(string prediction)
    {
        using var model = Tiny(TestBackends.Cpu, Config("fuji", "latent_loss=elbo", $"latent_prediction={prediction}", "mask_schedule=linear"));
        var x0 = Tokens(new Random(6), B * L);
        using var tape = Tape.Begin();
        var loss = (LddmLoss)model.Loss(x0, B, L, seed: 3, step: 7, null);
        double value = loss.Value.Item(), nelbo = loss.NelboPerToken();
        output.WriteLine($"{prediction}: loss {value:R}, NELBO {nelbo:R} (tokens {loss.Tokens.NelboPerToken():R}, latent {loss.Latent!.NelboPerToken():R})");
        Assert.True(loss.Latent.NelboPerToken() > 0);
        Assert.True(Math.Abs(value - nelbo) <= 1e-5 * (1 + Math.Abs(nelbo)), $"loss {value} vs NELBO {nelbo}.");
    }

    /// <summary>
    /// Over 1280 sequences: the p_cfg coin drops ≈ 30 % of latents, per-position encoder corruption zeroes only positions
    /// masked in x_t and ≈ E[p_r] = 0.45 of them (the per-sequence form: LatentOptionTests); t_y = t_x unless independent times, where t_y is independent of t_x; nothing is dropped or corrupted in eval mode.
    /// </summary>
    [Fact]
    public void DropoutAndCorruptionDrawsFollowTheirRates()
    {
        const int batch = 64, length = 16, draws = 20;
        var tokens = TrainingRun.Objective(new TrainConfig());
        var config = new LatentObjectiveConfig(LatentDropout: 0.3, EncoderCorruption: true, CorruptPositions: true);
        var x0 = Tokens(new Random(8), batch * length);
        int dropped = 0, masked = 0, zeroed = 0, far = 0;
        for (int step = 0; step < draws; step++)
        {
            var t = tokens.Draw(x0, batch, length, K, seed: 5, step);
            var d = LatentDraw.Sample(config, tokens.Times, t, batch, length, K, seed: 5, step, training: true);
            Assert.Equal(t.Times, d.Times);
            dropped += d.Keep.Count(k => k == 0f);
            for (int i = 0; i < x0.Length; i++)
            {
                masked += t.Noisy[i] == K ? 1 : 0;
                zeroed += d.EncoderKeep![i] == 0f ? 1 : 0;
                Assert.True(d.EncoderKeep[i] == 1f || t.Noisy[i] == K, $"step {step}: position {i} is zeroed but not masked.");
            }
            var eval = LatentDraw.Sample(config, tokens.Times, t, batch, length, K, seed: 5, step, training: false);
            Assert.Null(eval.EncoderKeep);
            Assert.All(eval.Keep, k => Assert.Equal(1f, k));
            var independent = LatentDraw.Sample(config with { IndependentTimes = true }, tokens.Times, t, batch, length, K, seed: 5, step, training: true);
            Assert.NotEqual(t.Times, independent.Times);
            // Still one time per stratum (the low-discrepancy set), but not in sequence b's stratum: t_y ⟂ t_x.
            Assert.All(independent.Times.Order().Select((v, k) => (v, k)), p => Assert.InRange(p.v, (double)p.k / batch, (p.k + 1.0) / batch + 1e-3));
            for (int b = 0; b < batch; b++)
            {
                far += Math.Abs(independent.Times[b] - t.Times[b]) > 0.5 ? 1 : 0;
            }
        }
        // For independent uniform times P(|t_x − t_y| > ½) = ¼; with t_y in t_x's stratum it would be 0.
        double farRate = (double)far / (batch * draws), farSe = Math.Sqrt(0.25 * 0.75 / (batch * draws));
        output.WriteLine($"|t_x - t_y| > 1/2 in {farRate:F4} of pairs (1/4 ± {farSe:F4} when independent)");
        Assert.True(Math.Abs(farRate - 0.25) < 4 * farSe, $"independent times: |t_x - t_y| > 1/2 in {farRate} of pairs");
        double drop = (double)dropped / (batch * draws), zero = (double)zeroed / masked;
        double dropSe = Math.Sqrt(0.3 * 0.7 / (batch * draws)), zeroSe = Math.Sqrt(0.0675 / (batch * draws)) + Math.Sqrt(0.25 / masked);
        output.WriteLine($"dropped {drop:F4} (p_cfg 0.3 ± {dropSe:F4}); zeroed {zero:F4} of masked encoder inputs (0.45 ± {zeroSe:F4})");
        Assert.True(Math.Abs(drop - 0.3) < 4 * dropSe, $"latent dropout rate {drop}");
        Assert.True(Math.Abs(zero - 0.45) < 4 * zeroSe, $"encoder corruption rate {zero}");
    }

    [Fact]
    public void LossIsAFunctionOfSeedAndStep()
    {
        var config = Config("fuji", "latent_dropout=0.5", "independent_times=true", "encoder_corruption=true");
        var x0 = Tokens(new Random(7), B * L);
        using var a = Tiny(TestBackends.Cpu, config);
        using var b = Tiny(TestBackends.Cpu, config);
        double first = LossValue(a, x0, B, seed: 5, step: 3);
        Assert.Equal(first, LossValue(a, x0, B, seed: 5, step: 3));
        Assert.Equal(first, LossValue(b, x0, B, seed: 5, step: 3));
        Assert.NotEqual(first, LossValue(a, x0, B, seed: 5, step: 4));
        Assert.NotEqual(first, LossValue(a, x0, B, seed: 6, step: 3));
    }

    [Theory]
    [InlineData("ddim", "y0")]
    [InlineData("ddpm", "eps")]
    public void SamplerGivesTheSameTokensOnBothBackends(string sampler, string prediction)
    {
        var config = Config("fuji", $"latent_sampler={sampler}", $"latent_prediction={prediction}");
        const int count = 2, steps = 3;
        var runs = TestBackends.All.Select(backend =>
        {
            using var model = Tiny(backend, config);
            model.Network.Eval();
            bool maskedBeforeFinal = false;
            var run = model.Sampler.Run(model.Denoiser, count, L, steps, seed: 42, temperature: 0.9f,
                afterStep: (k, x) => maskedBeforeFinal |= k == steps - 1 && x.Contains(K));
            Assert.Equal(steps + (maskedBeforeFinal ? 1 : 0), run.Nfe);
            return run;
        }).ToArray();
        Assert.Equal(runs[0].Tokens, runs[1].Tokens);
        Assert.All(runs[1].Tokens, v => Assert.InRange(v, 0, K - 1));
        Numerics.AssertClose(runs[0].Latent.Select(v => (double)v).ToArray(), runs[1].Latent, 1e-4, "final latent, cpu vs ilgpu-cpu");

        using var cpu = Tiny(TestBackends.Cpu, config);
        cpu.Network.Eval();
        var other = cpu.Generate(count, L, steps, seed: 43, temperature: 0.9f);
        Assert.NotEqual(runs[0].Tokens, other.Tokens);
    }

    /// <summary>
    /// N = 1: y ~ N(0, I) from the seed, one call at t = 1 on (MASK^L, y), then y moves 1 → t_ε by the float64 DDIM/DDPM
    /// update of that call's ŷ₀; the final call (if any mask is left) replaces y by its ŷ₀.
    /// </summary>
    [Theory]
    [InlineData("ddim")]
    [InlineData("ddpm")]
    public void OneStepLatentUpdateMatchesFloat64(string sampler)
    {
        const int count = 2;
        const ulong seed = 8;
        using var model = Tiny(TestBackends.Cpu, Config("fuji", $"latent_sampler={sampler}"));
        model.Network.Eval();
        int[]? afterFirst = null;
        var run = model.Sampler.Run(model.Denoiser, count, L, steps: 1, seed, afterStep: (k, x) => afterFirst ??= (int[])x.Clone());

        var backend = TestBackends.Cpu;
        var yInit = Enumerable.Range(0, count * P * D).Select(i => Philox.Normal(seed, LatentSampling.InitialStream, i)).ToArray();
        float[] Head(int[] tokens, float[] y, float t)
        {
            using var tape = Tape.Begin();
            var latent = Tensor.FromArray(backend, y, count, P, D);
            return model.Denoiser.Forward(IntTensor.FromArray(backend, tokens, count, L), latent, new float[count], [t, t]).Latent.ToArray();
        }
        var first = Head(Enumerable.Repeat(K, count * L).ToArray(), yInit, 1f);
        var y1 = LatentStep(model.Sampler.Chain, sampler == "ddpm", yInit, first, 1, MdlmSampler.TimeFloor, seed, 0);
        Assert.NotNull(afterFirst);
        var expected = afterFirst.Contains(K)
            ? Head(afterFirst, [.. y1.Select(v => (float)v)], (float)MdlmSampler.TimeFloor).Select(v => (double)v).ToArray()
            : y1;
        output.WriteLine($"{sampler}: final call {(afterFirst.Contains(K) ? "ran" : "skipped")}, NFE {run.Nfe}");
        Numerics.AssertClose(expected, run.Latent, 1e-4, $"{sampler} latent after one step");
    }

    [Fact]
    public void AllZeroLatentSamplerKeepsTheLatentAtZero()
    {
        using var model = Tiny(TestBackends.Cpu, Config("fuji", "all_zero_latent=true"));
        model.Network.Eval();
        var run = model.Sampler.Run(model.Denoiser, 2, L, steps: 4, seed: 1);
        Assert.All(run.Latent, v => Assert.Equal(0f, v));
        Assert.All(run.Tokens, v => Assert.InRange(v, 0, K - 1));
        Assert.InRange(run.Nfe, 4, 5);
    }

    /// <summary>30 AdamW steps on binary sawtooth (L = 16) lower the FUJI loss on fixed held-out draws.</summary>
    [Fact]
    public void ShortTrainingOnSawtoothLowersTheLoss()
    {
        const int length = 16, batch = 16, steps = 30;
        var data = new SawtoothData(new SawtoothConfig(length, 2, 0.01));
        var config = new TrainConfig { Model = "fuji", Data = "sawtooth", Length = length, LatentPatches = 1, LatentDim = 8, Seed = 3 }.Validate();
        using var model = FujiModel.Create(TestBackends.Cpu, RunOptions.Fuji(config), new MmDiTConfig(32, 2, 2, 16, 3, length, 1, 8), new DiTEncoderConfig(32, 1, 2, 16, 3, length, 1, 8));
        var held = new int[batch * length];
        data.TrainBatch(99, 0, batch, held);
        double Held()
        {
            model.Network.Eval();
            double sum = Enumerable.Range(0, 4).Sum(s => LossValue(model, held, batch, seed: 77, step: s));
            model.Network.Train();
            return sum / 4;
        }
        double before = Held();
        var watch = Stopwatch.StartNew();
        using var optimizer = new AdamW(model.TrainableParameters, new AdamWConfig());
        var x0 = new int[batch * length];
        for (int step = 0; step < steps; step++)
        {
            data.TrainBatch(config.Seed, step, batch, x0);
            model.Network.ZeroGrad();
            using var tape = Tape.Begin();
            model.Loss(x0, batch, length, config.Seed, step, null).Value.Backward();
            optimizer.Step(3e-3);
        }
        double after = Held();
        output.WriteLine($"held-out FUJI loss {before:F4} → {after:F4} after {steps} steps ({watch.Elapsed.TotalSeconds:F1} s)");
        Assert.True(after < 0.9 * before, $"loss {before} → {after}");
    }

    [Fact]
    public void PresetsAndAFrozenEncoderAreWiredAsConfigured()
    {
        var backend = TestBackends.Cpu;
        var config = Config("fuji", "preset=tiny", "encoder_preset=small", "dropout=0.1");
        using (var model = TrainingRun.Fuji(backend, config, K))
        {
            Assert.Equal(MmDiTConfig.From(TrainingRun.ModelConfig(config, K), P, D), model.Denoiser.Config);
            Assert.Equal(0.1f, model.Denoiser.Config.Dropout);
            Assert.Equal(DiTEncoderConfig.From(DiTConfig.Small(K + 1, L), P, D, normalize: false), model.LearnedEncoder!.Config);
            output.WriteLine($"preset tiny + encoder small: denoiser {model.Denoiser.ParameterCount}, encoder {model.LearnedEncoder.ParameterCount} parameters");
        }

        using var frozenNetwork = new DiTEncoder(backend, Encoder());
        Randomize(frozenNetwork, 3);
        var frozen = new FrozenEncoder(frozenNetwork);
        var frozenConfig = Config("fuji", "encoder=frozen-ar", "encoder_checkpoint=unused");
        using var withFrozen = FujiModel.Create(backend, RunOptions.Fuji(frozenConfig), Denoiser(), null, frozen);
        Assert.Same(frozen, withFrozen.Encoder);
        Assert.DoesNotContain(withFrozen.Network.NamedParameters(), p => p.Name.StartsWith("encoder.", StringComparison.Ordinal));
        Assert.Equal(withFrozen.Network.ParameterCount, withFrozen.TrainableParameters.Sum(p => (long)p.Parameter.Shape.Elements));
        using (var tape = Tape.Begin())
        {
            withFrozen.Loss(Tokens(new Random(9), B * L), B, L, seed: 1, step: 0, null).Value.Backward();
            Assert.All(frozenNetwork.Parameters(), p => Assert.Null(p.Grad)); // no gradient reaches a frozen encoder
            Assert.NotNull(withFrozen.Denoiser.FinalLatent.Proj.Weight.Grad);
        }
        var missing = Assert.Throws<ArgumentException>(() => TrainingRun.Fuji(backend, frozenConfig, K));
        Assert.Contains("frozen encoder passed to Create", missing.Message, StringComparison.Ordinal);
    }

    /// <summary>A frozen encoder as the judge's FrozenHiddenEncoder will be: a network outside the model, Trainable = false.</summary>
    private sealed class FrozenEncoder(DiTEncoder network) : ILatentEncoder
    {
        public int Patches => network.Config.Patches;

        public int PatchDim => network.Config.PatchDim;

        public bool Trainable => false;

        public Tensor Encode(IntTensor x0, Tensor? keep = null) => network.Forward(x0, keep);
    }

    [Fact]
    public void BadConfigurationsAreRejectedClearly()
    {
        var backend = TestBackends.Cpu;
        Assert.Contains("model = mdlm", Assert.Throws<ArgumentException>(() => FujiModel.Create(backend, RunOptions.Fuji(Config("mdlm")), Denoiser(), Encoder())).Message, StringComparison.Ordinal);
        Assert.Contains("needs", Assert.Throws<ArgumentException>(() => FujiModel.Create(backend, RunOptions.Fuji(Config("fuji")), Denoiser(), null)).Message, StringComparison.Ordinal);
        var wide = Encoder() with { PatchDim = D + 1 };
        Assert.Contains($"2 × {D + 1}", Assert.Throws<ArgumentException>(() => FujiModel.Create(backend, RunOptions.Fuji(Config("fuji")), Denoiser(), wide)).Message, StringComparison.Ordinal);
    }
}
