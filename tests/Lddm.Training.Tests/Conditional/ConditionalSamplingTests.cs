using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Conditional;
using Lddm.Training.Diffusion;
using Lddm.Training.DiLadd;
using Lddm.Training.Engine;
using Lddm.Training.Fuji;
using Lddm.Training.Mdlm;
using Lddm.Training.Runs;
using Lddm.Training.Seq;
using Lddm.Training.Tests.DiLadd;
using Lddm.Training.Tests.Mdlm;
using Xunit;
using static Lddm.Training.Tests.Fuji.FujiTestModels;

namespace Lddm.Training.Tests.Conditional;

/// <summary>The conditioning contract on every model kind: tiny random networks, random templates, both backends.</summary>
public sealed class ConditionalSamplingTests
{
    public static readonly TheoryData<string> Kinds = new() { "mdlm", "fuji", "fuji-sequential", "seq", "seq-prompt", "diladd", "diladd-sequential" };

    public static TheoryData<string, string, int> KindsBackendsBlocks()
    {
        var data = new TheoryData<string, string, int>();
        foreach (string kind in Kinds)
        {
            // The simulator is slow: it runs the blocked case (carry-over mask and template together); the CPU both.
            data.Add(kind, "cpu", 0);
            data.Add(kind, "cpu", 3);
            data.Add(kind, "ilgpu-cpu", 3);
        }
        return data;
    }

    /// <summary>A tiny model of the kind, every parameter random (flat enough that draws depend on the seed).</summary>
    internal static ITrainableModel Model(string kind, Backend backend, int seed = 7)
    {
        switch (kind)
        {
            case "mdlm":
                var config = Config("mdlm");
                return new MdlmModel(TinyMdlm.Create(backend, K, L, seed, 0.3f), TrainingRun.Objective(config), new MdlmSampler(MaskingSchedule.LogLinear()));
            case "fuji" or "fuji-sequential":
                var fuji = FujiModel.Create(backend, RunOptions.Fuji(Config("fuji", "independent_times=true")), Denoiser(), Encoder());
                Randomize(fuji.Network, seed);
                if (kind == "fuji-sequential")
                {
                    fuji.UseSequentialSampling(3);
                }
                return fuji;
            case "diladd" or "diladd-sequential":
                var diladd = DiLaddTestModels.Create(backend, DiLaddTestModels.Options(),
                    new TableEncoder(backend, K, rows: 9, P, D, seed: 11), seed: seed);
                if (kind == "diladd-sequential")
                {
                    diladd.UseSequentialSampling(3);
                }
                return diladd;
            default:
                var seq = SeqModel.Create(backend, RunOptions.Seq(Config("seq", "stage=2", "encoder_corruption=true")), Denoiser(), Encoder(), Prior());
                Randomize(seq.Network, seed);
                seq.UsePromptAwareLatent(kind == "seq-prompt");
                return seq;
        }
    }

    /// <summary>Per sequence a different random set of fixed positions (about 40 %) with random ids.</summary>
    internal static GenerationTemplate[] RandomTemplates(int seed, int count)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => GenerationTemplate.FromTokens(
            Enumerable.Range(0, L).Select(_ => rng.Next(5) < 2 ? rng.Next(K) : K).ToArray(), K))];
    }

    [Theory]
    [MemberData(nameof(KindsBackendsBlocks))]
    public void Fixed_positions_come_back_bit_for_bit_with_no_mask_left_and_a_seed_repeats_on_both_backends(string kind, string backendName, int block)
    {
        const int count = 3, steps = 3;
        var templates = RandomTemplates(11, count);
        var stacked = GenerationTemplate.Stack(templates);
        using var model = Model(kind, TestBackends.Get(backendName));
        var first = model.Generate(templates, steps, seed: 5, block);
        var again = model.Generate(templates, steps, seed: 5, block);
        Assert.Equal(first.Tokens, again.Tokens);
        for (int i = 0; i < stacked.Length; i++)
        {
            if (stacked[i] != K)
            {
                Assert.True(first.Tokens[i] == stacked[i], $"{kind} on {backendName}, B = {block}: fixed position {i} changed {stacked[i]} → {first.Tokens[i]}.");
            }
            Assert.InRange(first.Tokens[i], 0, K - 1); // no MASK left anywhere
        }
        using var cpu = Model(kind, TestBackends.Cpu);
        Assert.Equal(cpu.Generate(templates, steps, seed: 5, block).Tokens, first.Tokens); // the same tokens on every backend
        var other = model.Generate(templates, steps, seed: 6, block);
        Assert.NotEqual(first.Tokens, other.Tokens); // the seed matters (about 14 free ids over 3 tokens)
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void An_all_free_template_is_unconditional_sampling_bit_for_bit(string kind)
    {
        const int count = 3, steps = 5;
        using var model = Model(kind, TestBackends.Cpu);
        var free = Enumerable.Range(0, count).Select(_ => GenerationTemplate.Free(L, K)).ToArray();
        var conditional = model.Generate(free, steps, seed: 9);
        var unconditional = model.Generate(count, L, steps, seed: 9);
        Assert.Equal(unconditional.Tokens, conditional.Tokens);
        Assert.Equal(unconditional.Nfe, conditional.Nfe);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void An_all_fixed_template_comes_back_as_it_is_with_no_network_call(string kind)
    {
        var rng = new Random(3);
        var templates = Enumerable.Range(0, 2).Select(_ => GenerationTemplate.FromTokens(
            Enumerable.Range(0, L).Select(_ => rng.Next(K)).ToArray(), K)).ToArray();
        using var model = Model(kind, TestBackends.Cpu);
        foreach (int block in new[] { 0, 1, 3 })
        {
            var run = model.Generate(templates, steps: 4, seed: 1, block);
            Assert.Equal(GenerationTemplate.Stack(templates), run.Tokens);
            Assert.Equal(0, run.Nfe);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    public void Blocks_are_generated_left_to_right_and_later_blocks_stay_masked(int block)
    {
        using var dit = TinyMdlm.Create(TestBackends.Cpu, K, L, seed: 4, 0.3f);
        const int count = 3;
        int blocks = (L + block - 1) / block, steps = blocks * 2;
        var sampler = new MdlmSampler(MaskingSchedule.LogLinear());
        int current = 0;
        var run = sampler.Run(dit, count, L, steps, seed: 2, afterStep: (g, x) =>
        {
            // Block b owns steps b·(N_b + 1) .. b·(N_b + 1) + N_b (N_b = 2 here): nothing beyond it is unmasked yet.
            current = g / 3;
            for (int s = 0; s < count; s++)
            {
                for (int i = 0; i < L; i++)
                {
                    int owner = i / block;
                    int v = x[s * L + i];
                    Assert.True(owner <= current || v == K, $"B = {block}, step {g}: position {i} of block {owner} unmasked during block {current}.");
                    if (g % 3 == 2)
                    {
                        Assert.True(owner > current || v != K, $"B = {block}: position {i} still MASK after block {current} ended.");
                    }
                }
            }
        }, block: block);
        Assert.Equal(blocks - 1, current);
        Assert.All(run.Tokens, v => Assert.InRange(v, 0, K - 1));
        Assert.Contains("need N ≥ " + blocks, Assert.Throws<ArgumentOutOfRangeException>(
            () => sampler.Run(dit, count, L, blocks - 1, seed: 2, block: block)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_prompt_aware_seq_latent_is_the_encoding_of_the_visible_tokens_at_one_call()
    {
        using var model = (SeqModel)Model("seq", TestBackends.Cpu);
        var templates = RandomTemplates(5, 3);
        var stacked = GenerationTemplate.Stack(templates);
        var run = model.Sampler.Run(model.Prior, model.Decoder, 3, L, steps: 4, seed: 8, template: stacked, promptEncoder: model.Encoder);
        var prior = model.Sampler.Run(model.Prior, model.Decoder, 3, L, steps: 4, seed: 8, template: stacked);
        var ids = stacked.Select(t => t == K ? 0 : t).ToArray();
        var keep = stacked.Select(t => t == K ? 0f : 1f).ToArray();
        float[] expected;
        using (var tape = Lddm.Autograd.Tape.Begin())
        using (Lddm.Autograd.Grad.Off())
        {
            expected = model.Encoder!.Encode(Lddm.Autograd.IntTensor.FromArray(TestBackends.Cpu, ids, 3, L),
                Lddm.Autograd.Tensor.FromArray(TestBackends.Cpu, keep, 3, L)).ToArray();
        }
        Assert.Equal(expected, run.Latent);
        Assert.NotEqual(prior.Latent, run.Latent);
        Assert.Equal(prior.Nfe - (4 + 1) + 1, run.Nfe); // the prior's N_lat + 1 calls replaced by one encoder call
        // A template that fixes nothing falls back to the prior (nothing to encode).
        var free = model.Sampler.Run(model.Prior, model.Decoder, 3, L, steps: 4, seed: 8, promptEncoder: model.Encoder);
        Assert.Equal(model.Sampler.Run(model.Prior, model.Decoder, 3, L, steps: 4, seed: 8).Tokens, free.Tokens);
    }

    /// <summary>
    /// Di-LADD's codes under a template: none left MASK (C) after joint (one block or several) or code-first sampling,
    /// and the code phase sees the template's fixed tokens: over a few seeds the codes drawn beside the template differ
    /// from those drawn beside all MASK (a random network reads its tokens). An all-fixed batch draws no code.
    /// </summary>
    [Theory]
    [InlineData("diladd", 0)]
    [InlineData("diladd", 3)]
    [InlineData("diladd-sequential", 0)]
    [InlineData("diladd-sequential", 3)]
    public void Di_ladd_draws_every_code_given_the_template(string kind, int block)
    {
        const int count = 3, steps = 4;
        using var model = (DiLaddModel)Model(kind, TestBackends.Cpu);
        var templates = RandomTemplates(13, count);
        var free = Enumerable.Range(0, count).Select(_ => GenerationTemplate.Free(L, K)).ToArray();
        bool differs = false;
        for (ulong seed = 1; seed <= 4; seed++)
        {
            var run = model.Sample(templates, steps, seed, block);
            Assert.Equal(count * P, run.Codes.Length);
            Assert.All(run.Codes, v => Assert.InRange(v, 0, DiLaddTestModels.C - 1));
            Assert.All(run.Tokens, v => Assert.InRange(v, 0, K - 1));
            differs |= !run.Codes.SequenceEqual(model.Sample(free, steps, seed, block).Codes);
        }
        Assert.True(differs, $"{kind}, B = {block}: the codes never depended on the template's fixed tokens.");
        var rng = new Random(2);
        var all = new[] { GenerationTemplate.FromTokens(Enumerable.Range(0, L).Select(_ => rng.Next(K)).ToArray(), K) };
        var none = model.Sample(all, steps, seed: 1, block);
        Assert.Equal(0, none.Nfe);
        Assert.Equal(GenerationTemplate.Stack(all), none.Tokens);
        Assert.All(none.Codes, v => Assert.Equal(DiLaddTestModels.C, v));
    }
}
