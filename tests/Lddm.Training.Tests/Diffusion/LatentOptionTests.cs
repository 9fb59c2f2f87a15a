using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Encoders;
using Lddm.Training.Fuji;
using Lddm.Training.Runs;
using Lddm.Training.Seq;
using Lddm.Training.Tests.Fuji;
using Xunit;
using Xunit.Abstractions;
using static Lddm.Training.Tests.Fuji.FujiTestModels;

namespace Lddm.Training.Tests.Diffusion;

/// <summary>
/// The LADD-matching options of issue #11: p_r per sequence (and per position), the zeroed patches of a per-position
/// latent, the latent loss over enabled rows, SEQ's prior target, sequential sampling of a joint FUJI model, dropout.
/// </summary>
public sealed class LatentOptionTests(ITestOutputHelper output)
{
    private const int B = 3;

    /// <summary>
    /// Sequence mode over 2560 sequences: a sequence's masked encoder inputs are all zeroed or none (never an unmasked
    /// one), and the fraction of sequences zeroed is E[p_r] = 0.45 within 4 SE. Position mode: 0.45 of the masked
    /// positions, and sequences that are partly zeroed do occur.
    /// </summary>
    [Fact]
    public void Encoder_corruption_is_one_coin_per_sequence_with_rate_e_p_r()
    {
        const int batch = 64, length = 16, draws = 40;
        var tokens = TrainingRun.Objective(new TrainConfig());
        var x0 = Tokens(new Random(8), batch * length);
        int sequences = 0, zeroedSequences = 0, maskedPositions = 0, zeroedPositions = 0, mixed = 0;
        for (int step = 0; step < draws; step++)
        {
            var t = tokens.Draw(x0, batch, length, K, seed: 9, step);
            var seq = LatentDraw.Sample(new LatentObjectiveConfig(EncoderCorruption: true), tokens.Times, t, batch, length, K, seed: 9, step, training: true);
            var pos = LatentDraw.Sample(new LatentObjectiveConfig(EncoderCorruption: true, CorruptPositions: true), tokens.Times, t, batch, length, K, seed: 9, step, training: true);
            for (int b = 0; b < batch; b++)
            {
                var rows = Enumerable.Range(b * length, length).ToList();
                Assert.All(rows, i => Assert.True(t.Noisy[i] == K || (seq.EncoderKeep![i] == 1f && pos.EncoderKeep![i] == 1f), $"unmasked position {i} zeroed"));
                var masked = rows.Where(i => t.Noisy[i] == K).ToList();
                if (masked.Count == 0)
                {
                    continue;
                }
                int zero = masked.Count(i => seq.EncoderKeep![i] == 0f);
                Assert.True(zero == 0 || zero == masked.Count, $"step {step}, sequence {b}: {zero} of {masked.Count} masked inputs zeroed (all or none).");
                sequences++;
                zeroedSequences += zero > 0 ? 1 : 0;
                int zeroPos = masked.Count(i => pos.EncoderKeep![i] == 0f);
                maskedPositions += masked.Count;
                zeroedPositions += zeroPos;
                mixed += zeroPos > 0 && zeroPos < masked.Count ? 1 : 0;
            }
        }
        double fraction = (double)zeroedSequences / sequences, se = Math.Sqrt(0.45 * 0.55 / sequences);
        double positionRate = (double)zeroedPositions / maskedPositions;
        output.WriteLine($"sequence mode: {zeroedSequences}/{sequences} = {fraction:F4} zeroed (0.45 ± {se:F4}); position mode: {positionRate:F4} of masked positions, {mixed} partly zeroed sequences");
        Assert.True(Math.Abs(fraction - 0.45) < 4 * se, $"fraction of zeroed sequences {fraction}");
        Assert.InRange(positionRate, 0.38, 0.52);
        Assert.True(mixed > 0);
    }

    /// <summary>
    /// A per-position latent (P = L): the patches whose encoder input is zeroed come out exactly zero and the others are
    /// the encoder's output bit for bit; with P &lt; L the encoder's output is used as is.
    /// </summary>
    [Theory]
    [InlineData(8)]
    [InlineData(2)]
    public void A_per_position_latent_has_the_patches_of_zeroed_inputs_zeroed(int patches)
    {
        var backend = TestBackends.Cpu;
        using var network = new DiTEncoder(backend, new DiTEncoderConfig(16, 1, 2, 8, K + 1, L, patches, D));
        Randomize(network, 12);
        var encoder = new LearnedEncoder(network);
        var rng = new Random(3);
        var x0 = Tokens(rng, B * L);
        var keep = Enumerable.Range(0, B * L).Select(_ => rng.Next(3) == 0 ? 0f : 1f).ToArray();
        using var off = Grad.Off();
        var y0 = LatentEncoding.Encode(encoder, backend, x0, B, L, keep, patches, D).ToArray();
        var raw = encoder.Encode(IntTensor.FromArray(backend, x0, B, L), Tensor.FromArray(backend, keep, B, L)).ToArray();
        for (int i = 0; i < y0.Length; i++)
        {
            int row = i / D; // (b, patch)
            bool zeroed = patches == L && keep[row] == 0f;
            Assert.Equal(zeroed ? 0f : raw[i], y0[i]);
            Assert.True(zeroed || raw[i] != 0f, $"element {i} of the encoder output is 0: the test could not see a wrong zero");
        }
    }

    /// <summary>The latent loss is the mean over the rows whose loss is on (float64 reference), for mse and elbo weights; 0 with none.</summary>
    [Theory]
    [InlineData("mse")]
    [InlineData("elbo")]
    public void Latent_loss_is_averaged_over_enabled_rows(string latentLoss)
    {
        var backend = TestBackends.Cpu;
        const int batch = 5, patches = 3, dim = 4, length = 12;
        var config = new TrainConfig { Model = "fuji", Length = length, LatentPatches = patches, LatentDim = dim, LatentLoss = latentLoss }.Validate();
        var chain = RunOptions.Latent(config).CreateChain();
        var options = RunOptions.Latent(config).ObjectiveConfig();
        var rng = new Random(21);
        var p = Numerics.RandomFloats(rng, batch * patches * dim, 1f);
        var q = Numerics.RandomFloats(rng, batch * patches * dim, 1f);
        var times = Enumerable.Range(0, batch).Select(_ => 0.05 + 0.9 * rng.NextDouble()).ToArray();
        foreach (var keep in new[] { new float[] { 1, 0, 1, 1, 0 }, new float[] { 1, 1, 1, 1, 1 }, new float[] { 0, 0, 0, 0, 0 } })
        {
            using var off = Grad.Off();
            var term = LatentTerm.Build(chain, options, Tensor.FromArray(backend, p, batch, patches, dim),
                Tensor.FromArray(backend, q, batch, patches, dim), null, times, keep, length);
            double sum = 0;
            int kept = 0;
            for (int b = 0; b < batch; b++)
            {
                if (keep[b] == 0f)
                {
                    continue;
                }
                kept++;
                double squares = 0;
                for (int j = b * patches * dim; j < (b + 1) * patches * dim; j++)
                {
                    squares += ((double)p[j] - q[j]) * ((double)p[j] - q[j]);
                }
                sum += latentLoss == "mse" ? squares / (patches * dim) : chain.ElboWeight(times[b]) * squares / length;
            }
            double expected = kept == 0 ? 0 : sum / kept;
            double actual = term.Value.Item();
            output.WriteLine($"{latentLoss}, keep [{string.Join(",", keep)}]: {actual:G6} vs {expected:G6}");
            Assert.True(Math.Abs(actual - expected) <= 1e-5 * (1 + Math.Abs(expected)), $"latent loss {actual} vs mean over enabled rows {expected}");
        }
    }

    /// <summary>
    /// seq_prior_target: clean ignores the decoder's corruption and p_cfg (the prior term is the same with or without
    /// them); decoder learns the corrupted y₀ on the kept rows: equal to clean when nothing is corrupted or dropped, 0
    /// when every row is dropped, moved by a kept row's corruption and not by a dropped row's.
    /// </summary>
    [Fact]
    public void Seq_prior_target_is_the_clean_latent_or_the_decoders()
    {
        var backend = TestBackends.Cpu;
        var x0 = Tokens(new Random(31), B * L);
        double Term(string target, Func<LatentDraw, LatentDraw> edit)
        {
            var config = Config("seq", "stage=2", "encoder_corruption=true", "latent_dropout=0.5", $"seq_prior_target={target}");
            using var model = SeqModel.Create(backend, RunOptions.Seq(config), Denoiser(), Encoder(), Prior());
            Randomize(model.Network, 8);
            var draw = model.Objective.Draw(x0, B, L, K, seed: 2, step: 5, training: true);
            using var tape = Tape.Begin();
            var loss = model.Objective.Loss(model.Decoder, model.Prior, model.Encoder, x0, B, L,
                draw with { Latent = edit(draw.Latent) }, seed: 2, step: 5);
            return loss.Latent!.Value.Item();
        }
        float[] Ones(int n) => Enumerable.Repeat(1f, n).ToArray();
        float[] Corrupt(int row)
        {
            var keep = Ones(B * L);
            Array.Fill(keep, 0f, row * L, L / 2);
            return keep;
        }
        var plain = (LatentDraw d) => d with { EncoderKeep = null, Keep = Ones(B) };
        double clean = Term("clean", plain);
        Assert.True(clean > 0);
        Assert.Equal(clean, Term("clean", d => d with { EncoderKeep = Corrupt(0), Keep = [0f, 1f, 0f] }));
        Assert.Equal(clean, Term("decoder", plain));
        Assert.Equal(0, Term("decoder", d => d with { EncoderKeep = Corrupt(1), Keep = [0f, 0f, 0f] }));
        double keptRowsOnly = Term("decoder", d => d with { EncoderKeep = null, Keep = [0f, 1f, 1f] });
        Assert.NotEqual(clean, keptRowsOnly);
        Assert.Equal(keptRowsOnly, Term("decoder", d => d with { EncoderKeep = Corrupt(0), Keep = [0f, 1f, 1f] }));
        Assert.NotEqual(keptRowsOnly, Term("decoder", d => d with { EncoderKeep = Corrupt(1), Keep = [0f, 1f, 1f] }));
    }

    /// <summary>
    /// Sequential sampling of a FUJI model trained with independent times: every latent step runs on an all-MASK
    /// sequence before the first token step, the last one sets y to the MM-DiT's ŷ₀ (the latent is fully denoised),
    /// y stays fixed through the token steps, and the calls are N_lat + N (+1 when masks remain for the final step).
    /// A model trained with the shared clock is refused.
    /// </summary>
    [Theory]
    [InlineData(3, 5, "ddim")]
    [InlineData(1, 4, "ddpm")]
    public void Sequential_sampling_denoises_the_latent_before_any_token(int latentSteps, int steps, string latentSampler)
    {
        var backend = TestBackends.Cpu;
        var config = Config("fuji", "independent_times=true", "time_conditioning=true", $"latent_sampler={latentSampler}");
        using var model = FujiModel.Create(backend, RunOptions.Fuji(config), Denoiser(), Encoder());
        Randomize(model.Network, 14);
        model.Network.Eval();
        const int count = 4;
        var events = new List<string>();
        var latents = new List<float[]>();
        int[]? beforeFinal = null;
        var samples = model.Sampler.RunSequential(model.Denoiser, count, L, steps, latentSteps, seed: 6,
            afterStep: (k, tokens) =>
            {
                events.Add($"token {k}");
                if (k == steps - 1)
                {
                    beforeFinal = (int[])tokens.Clone();
                }
            },
            afterLatentStep: (k, y) =>
            {
                events.Add($"latent {k}");
                latents.Add(y);
            });
        Assert.Equal(Enumerable.Range(0, latentSteps).Select(k => $"latent {k}"), events.Take(latentSteps));
        Assert.DoesNotContain(events.Skip(latentSteps), e => e.StartsWith("latent", StringComparison.Ordinal));
        Assert.Equal(latents[^1], samples.Latent); // fixed through the token steps

        // The last latent step is y ← ŷ₀ of the MM-DiT on (all MASK, y before it, t_x = 1, t_y = t_{N_lat−1}).
        var grid = Lddm.Training.Mdlm.MdlmSampler.TimeGrid(latentSteps);
        var yBefore = latentSteps == 1
            ? Enumerable.Range(0, count * P * D).Select(i => (float)Philox.Normal(6, LatentSampling.InitialStream, i)).ToArray()
            : latents[^2];
        using (var off = Grad.Off())
        {
            var allMask = Enumerable.Repeat(K, count * L).ToArray();
            var head = model.Denoiser.Forward(IntTensor.FromArray(backend, allMask, count, L), Tensor.FromArray(backend, yBefore, count, P, D),
                Enumerable.Repeat(1f, count).ToArray(), Enumerable.Repeat((float)grid[latentSteps - 1], count).ToArray()).Latent.ToArray();
            Assert.Equal(head, latents[^1]);
        }
        int expected = latentSteps + steps + (Array.IndexOf(beforeFinal!, K) >= 0 ? 1 : 0);
        Assert.Equal(expected, samples.Nfe);
        Assert.DoesNotContain(K, samples.Tokens);

        model.UseSequentialSampling(latentSteps);
        Assert.Equal(samples.Nfe, model.Generate(count, L, steps, seed: 6).Nfe);
        Assert.Equal(samples.Tokens, model.Generate(count, L, steps, seed: 6).Tokens);

        using var shared = FujiModel.Create(backend, RunOptions.Fuji(Config("fuji")), Denoiser(), Encoder());
        var refused = Assert.Throws<InvalidOperationException>(() => shared.UseSequentialSampling(8));
        Assert.Contains("independent_times", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>The dropout key reaches the MM-DiT and SEQ's prior (not the encoder), and in training mode it changes
    /// the loss as a function of the dropout draw.</summary>
    [Fact]
    public void Dropout_reaches_the_mm_dit_and_the_prior()
    {
        var backend = TestBackends.Cpu;
        var config = Config("seq", "stage=2", "dropout=0.1", "preset=xxs", "encoder_preset=xxs");
        using var model = TrainingRun.Seq(backend, config, K);
        Randomize(model.Network, 3); // open the zero-initialised gates, so dropped activations reach the loss
        Assert.Equal(0.1f, model.Decoder.Config.Dropout);
        Assert.Equal(0.1f, model.Prior.Config.Dropout);
        Assert.Equal(0.1f, LatentPresets.Denoiser(config with { Model = "fuji", Stage = 0 }, K).Dropout);
        var x0 = Tokens(new Random(2), B * L);
        double Loss(DropoutRng? rng)
        {
            using var tape = Tape.Begin();
            return model.Loss(x0, B, L, seed: 1, step: 0, rng).Value.Item();
        }
        model.Network.Train();
        double a = Loss(new DropoutRng(1, 0)), b = Loss(new DropoutRng(1, 0)), c = Loss(new DropoutRng(2, 0));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        model.Network.Eval();
        // In eval mode dropout is off: a draw that changed the training loss (c ≠ a) leaves it unchanged.
        Assert.Equal(Loss(null), Loss(new DropoutRng(2, 0)));
    }
}
