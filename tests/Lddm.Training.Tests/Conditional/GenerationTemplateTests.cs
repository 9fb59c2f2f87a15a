using FsCheck.Xunit;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Conditional;
using Lddm.Training.Data;
using Lddm.Training.Data.Text;
using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;
using Lddm.Training.Tests.Mdlm;
using Xunit;

namespace Lddm.Training.Tests.Conditional;

public sealed class GenerationTemplateTests
{
    private static readonly CharVocabulary s_text = new(" abcdefghijklmnopqrstuvwxyz");

    private static string Show(GenerationTemplate t) => t.Describe(s_text);

    [Fact]
    public void Prompts_and_infills_are_normalised_and_placed()
    {
        var prompt = GenerationTemplate.FromPrompt("Fellow-Citizens of the ", 30, s_text);
        Assert.Equal("fellow citizens of the " + new string('_', 7), Show(prompt));
        Assert.Equal(23, prompt.FixedCount);
        var infill = GenerationTemplate.FromInfill("The ___ of the Senate!", 24, s_text);
        Assert.Equal("the ___ of the senate" + new string('_', 3), Show(infill));
        Assert.False(infill.IsFixed(4));
        Assert.True(infill.IsFixed(3));
        var ids = GenerationTemplate.FromTokens([0, 27, 5], 27);
        Assert.Equal(2, ids.FixedCount);
        Assert.Equal([1, 2, 27, 27], GenerationTemplate.FromPrefix([1, 2], 4, 27).Tokens.ToArray());
    }

    [Fact]
    public void The_sawtooth_prefix_likelihood_matches_the_exact_one_on_whole_sequences_and_marginalises_correctly()
    {
        var saw = new BinarySawtooth(new SawtoothConfig(length: 16, numSaws: 2, scale: 0.05));
        for (int index = 0; index < 4; index++)
        {
            var x = saw.Generate(3, index).Tokens;
            double exact = saw.LogLikelihood(x), midpoint = SawtoothConditional.LogPrefixLikelihood(saw, x);
            Assert.True(Math.Abs(exact - midpoint) < 1e-6 * Math.Abs(exact), $"sequence {index}: exact {exact}, midpoint rule {midpoint}.");
            // Σ over the last bit of p(x_{<L−1}, b) = p(x_{<L−1}): the prefix likelihood is a marginal.
            var other = (int[])x.Clone();
            other[^1] = 1 - other[^1];
            double sum = Math.Log(Math.Exp(saw.LogLikelihood(x)) + Math.Exp(saw.LogLikelihood(other)));
            Assert.True(Math.Abs(sum - SawtoothConditional.LogPrefixLikelihood(saw, x.AsSpan(0, 15))) < 1e-6 * Math.Abs(sum));
            Assert.True(SawtoothConditional.CompletionNllBits(saw, x, 4) > 0);
        }
    }

    [Property(MaxTest = 200)]
    public void The_placeholder_never_survives_normalisation(string raw) =>
        Assert.DoesNotContain(GenerationTemplate.Placeholder, TextNormalizer.Normalize(raw ?? "").Text);

    [Fact]
    public void Bad_templates_give_one_clear_error()
    {
        void Fails<TE>(Action call, string text) where TE : Exception =>
            Assert.Contains(text, Assert.Throws<TE>(call).Message, StringComparison.Ordinal);
        Fails<ArgumentException>(() => GenerationTemplate.FromInfill("the senate", 20, s_text), "has no placeholder '_'");
        Fails<ArgumentException>(() => GenerationTemplate.FromInfill("the ___ of the senate", 10, s_text), "the infill is 21 positions");
        Fails<ArgumentException>(() => GenerationTemplate.FromPrompt("the union is strong", 5, s_text), "the prompt is 19 characters");
        Fails<ArgumentException>(() => GenerationTemplate.FromPrompt("!!!", 5, s_text), "the prompt is empty");
        Fails<ArgumentException>(() => GenerationTemplate.FromPrompt("the #1", 10, s_text, normalize: false), "Character '#' (U+0023) at position 4");
        var noQ = new CharVocabulary(" abcdefghijklmnoprstuvwxyz");
        Fails<ArgumentException>(() => GenerationTemplate.FromInfill("quiet _", 10, noQ), "Character 'q' (U+0071) at position 0");
        Fails<ArgumentOutOfRangeException>(() => GenerationTemplate.FromTokens([0, 28], 27), "token 28 at position 1");
        Fails<ArgumentException>(() => GenerationTemplate.Stack([GenerationTemplate.Free(4, 27), GenerationTemplate.Free(5, 27)]), "template 1 has L = 5");
        Fails<ArgumentException>(() => GenerationTemplate.Free(5, 27).CheckFits(64, 27, "lddm sample"), "the template has 5 positions but the request is for sequences of length 64");

        using var dit = TinyMdlm.Create(TestBackends.Cpu, 3, 8, seed: 1);
        var sampler = new MdlmSampler(MaskingSchedule.LogLinear());
        Fails<ArgumentException>(() => sampler.Run(dit, 2, 8, 4, 1, template: new int[15]), "the template has 15 positions but 2 sequences of length 8 need 16");
        Fails<ArgumentOutOfRangeException>(() => sampler.Run(dit, 1, 8, 4, 1, template: [0, 1, 2, 3, 0, 1, 2, 9]), "template[7] = 9");
        Fails<ArgumentOutOfRangeException>(() => sampler.Run(dit, 1, 8, 4, 1, block: 9), "the semi-autoregressive block must be in [1, L = 8]");
        using var model = ConditionalSamplingTests.Model("mdlm", TestBackends.Cpu);
        Fails<ArgumentException>(() => model.Generate([GenerationTemplate.Free(8, 5)], 4, 1), "the model's vocabulary has K = 3");
    }
}
