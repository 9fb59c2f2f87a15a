using System.CommandLine;
using System.Globalization;
using FsCheck;
using FsCheck.Xunit;
using Xunit;

namespace Lddm.Cli.Tests;

/// <summary>
/// The parser object itself (System.CommandLine's tree, not help text compared to a copy): every verb's help, the
/// values a body receives, number and seed checks in the user's terms, typo suggestions.
/// </summary>
public sealed class CommandLineTests
{
    /// <summary>A command line whose verbs record the options they would run with instead of running.</summary>
    private static (RootCommand Root, Dictionary<string, Options> Ran) Recording()
    {
        var ran = new Dictionary<string, Options>();
        return (LddmCommandLine.Build((verb, options) =>
        {
            ran[verb] = options;
            return 0;
        }), ran);
    }

    private static IEnumerable<Option> OptionsOf(Command verb) => verb.Options.Where(o => o is not System.CommandLine.Help.HelpOption);

    public static TheoryData<string> Verbs() => [.. LddmCommandLine.Verbs];

    [Fact]
    public void The_root_lists_exactly_the_verbs_and_has_version()
    {
        var (root, _) = Recording();
        Assert.Equal(LddmCommandLine.Verbs, root.Subcommands.Select(c => c.Name));
        var output = new StringWriter();
        Assert.Equal(0, root.Parse(["--version"]).Invoke(new InvocationConfiguration { Output = output }));
        Assert.Matches(@"^\d+\.\d+\.\d+", output.ToString());
    }

    [Theory]
    [MemberData(nameof(Verbs))]
    public void Every_verbs_help_exits_0_and_names_every_option_with_its_description_and_default(string verb)
    {
        var (root, ran) = Recording();
        var command = root.Subcommands.Single(c => c.Name == verb);
        var output = new StringWriter();
        Assert.Equal(0, root.Parse([verb, "--help"]).Invoke(new InvocationConfiguration { Output = output }));
        Assert.Empty(ran); // help does not run the verb
        string help = output.ToString();
        Assert.Contains(command.Description!, help.ReplaceLineEndings(" "));
        foreach (var option in OptionsOf(command))
        {
            Assert.Contains(option.Name, help);
            Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{verb} {option.Name} has no description");
            if (option is Option<string> { HasDefaultValue: true } withDefault)
            {
                Assert.Contains($"[default: {withDefault.GetDefaultValue()}", help);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Verbs))]
    public void A_verb_receives_every_defaulted_value_and_rejects_an_unknown_option_with_a_suggestion(string verb)
    {
        var (root, ran) = Recording();
        var command = root.Subcommands.Single(c => c.Name == verb);
        string[] required = [.. OptionsOf(command).Where(o => o.Required).SelectMany(o => new[] { o.Name, "x" })];
        var parsed = root.Parse([verb, .. required]);
        Assert.Null(LddmCommandLine.Errors(parsed));
        Assert.Equal(0, parsed.Invoke());
        var options = ran[verb];
        foreach (var option in OptionsOf(command).OfType<Option<string>>().Where(o => o.HasDefaultValue))
        {
            Assert.Equal(option.GetDefaultValue(), options.Value(option.Name[2..]));
        }
        var first = OptionsOf(command).FirstOrDefault();
        if (first is not null)
        {
            string typo = first.Name[..^1] + "q" + first.Name[^1]; // one letter inserted
            var errors = LddmCommandLine.Errors(root.Parse([verb, .. required, typo]));
            Assert.NotNull(errors);
            Assert.Contains($"unknown option '{typo}' for 'lddm {verb}' (did you mean '{first.Name}'?)", errors[0]);
        }
    }

    [Theory]
    [InlineData("trian", "train")]
    [InlineData("smaple", "sample")]
    [InlineData("evalgen", "eval-gen")]
    public void A_mistyped_verb_gets_the_nearest_one(string typo, string verb)
    {
        var (root, _) = Recording();
        var errors = LddmCommandLine.Errors(root.Parse([typo]))!;
        Assert.StartsWith($"unknown verb '{typo}' (did you mean '{verb}'?)", Assert.Single(errors));
    }

    /// <summary>No message leaks a .NET type name; each names the flag and what it takes.</summary>
    [Theory]
    [InlineData("sample --checkpoint x --temperature 1,5", "--temperature expects a number > 0 such as 0.8 (with a '.' decimal point) but got '1,5'")]
    [InlineData("eval-gen --judge j --checkpoint x --temperature 1e999", "--temperature expects a number > 0")]
    [InlineData("sample --checkpoint x --temperature 0", "--temperature expects a number > 0")]
    [InlineData("sample --checkpoint x --count 1,000", "--count expects an integer in 1..2147483647 but got '1,000'")]
    [InlineData("train --steps 99999999999", "--steps expects an integer in 1..2147483647 but got '99999999999'")]
    [InlineData("train --batch 1.5", "--batch expects an integer in 1..4096 but got '1.5'")]
    [InlineData("train --stage 3", "--stage expects an integer in -1..2 but got '3'")]
    [InlineData("train --model gpt", "--model expects one of mdlm, fuji, seq, diladd, ar but got 'gpt'")]
    [InlineData("eval --checkpoint x --steps 2,0", "--steps expects a comma-separated list of integers ≥ 1 but got '2,0'")]
    [InlineData("sweep --checkpoint x --out p --sampler joint,both", "--sampler expects joint or sequential")]
    [InlineData("sample --checkpoint x --latent-steps 0", "--latent-steps expects an integer in 1..2147483647 but got '0'")]
    [InlineData("sample", "Option '--checkpoint' is required")]
    [InlineData("sample --checkpoint", "--checkpoint")]
    [InlineData("train --resume yes", "unexpected argument 'yes'")]
    [InlineData("ptx --arch sm_70", "--arch expects one of sm_80, sm_90 but got 'sm_70'")]
    public void A_bad_value_is_one_error_naming_the_flag(string line, string expected)
    {
        var (root, ran) = Recording();
        var errors = LddmCommandLine.Errors(root.Parse(line.Split(' ')));
        Assert.NotNull(errors);
        Assert.Contains(expected, string.Join("\n", errors));
        Assert.DoesNotMatch(@"System\.|Int32|Int64|Single|Double|Boolean|String\b", string.Join("\n", errors));
        Assert.Empty(ran);
    }

    /// <summary>Every verb that takes a seed takes the same ones: 0..2⁶⁴−1, and nothing else (no wrap of -1).</summary>
    [Property(MaxTest = 200)]
    public void Seeds_are_the_same_range_for_every_verb(long signed, bool big)
    {
        ulong? expected = big ? (ulong)signed + (ulong)long.MaxValue : signed >= 0 ? (ulong)signed : null;
        string token = big ? expected!.Value.ToString(CultureInfo.InvariantCulture) : signed.ToString(CultureInfo.InvariantCulture);
        foreach (string[] line in new[]
        {
            new[] { "train" }, ["sample", "--checkpoint", "x"], ["eval", "--checkpoint", "x"],
            ["sweep", "--checkpoint", "x", "--out", "p"], ["eval-gen", "--judge", "j", "--checkpoint", "x"],
        })
        {
            var (root, ran) = Recording();
            var parsed = root.Parse([.. line, "--seed", token]);
            var errors = LddmCommandLine.Errors(parsed);
            if (expected is null)
            {
                Assert.Contains($"--seed expects an integer in 0..18446744073709551615 but got '{token}'", Assert.Single(errors!));
                continue;
            }
            Assert.Null(errors);
            parsed.Invoke();
            Assert.Equal(expected, ran[line[0]].ULong("seed"));
        }
    }

    /// <summary>Integers reach the body as given when in range, with '.' and ',' never read as separators.</summary>
    [Property(MaxTest = 200)]
    public void Counts_in_range_reach_the_body_and_others_are_refused(int count, bool comma)
    {
        var (root, ran) = Recording();
        string token = comma ? $"{count / 1000},{Math.Abs(count % 1000):D3}" : count.ToString(CultureInfo.InvariantCulture);
        var parsed = root.Parse(["sample", "--checkpoint", "x", "--count", token]);
        var errors = LddmCommandLine.Errors(parsed);
        if (count >= 1 && !comma)
        {
            Assert.Null(errors);
            parsed.Invoke();
            Assert.Equal(count, ran["sample"].Int("count"));
        }
        else
        {
            Assert.Contains("--count expects an integer in 1..2147483647", Assert.Single(errors!));
        }
    }

    [Fact]
    public void Temperatures_use_a_point_and_reach_the_body_unchanged()
    {
        var (root, ran) = Recording();
        root.Parse(["sample", "--checkpoint", "x", "--temperature", "1.5"]).Invoke();
        Assert.Equal("1.5", ran["sample"].Value("temperature"));
    }

    [Fact]
    public void Train_flags_are_kept_as_given_and_a_corpus_path_is_made_absolute()
    {
        var (root, ran) = Recording();
        root.Parse(["train", "--corpus", "my.txt", "--set", "a=1", "--set", "b=2", "--resume", "--stage=-1", "--steps:7"]).Invoke();
        var options = ran["train"];
        Assert.Equal(Path.GetFullPath("my.txt"), options.Value("corpus"));
        Assert.Equal(["a=1", "b=2"], options.Values("set"));
        Assert.True(options.Flag("resume"));
        Assert.Equal(-1, options.Int("stage"));
        Assert.Equal(7, options.Int("steps"));
        Assert.Null(options.Value("batch")); // a train flag not given leaves the config's value alone
        root.Parse(["train", "--corpus", "sotu"]).Invoke();
        Assert.Equal("sotu", ran["train"].Value("corpus"));
    }

    [Fact]
    public void An_option_the_verb_never_reads_is_a_bug()
    {
        var options = new Options(new Dictionary<string, string?> { ["steps"] = "3", ["extra"] = "1" }, []);
        Assert.Equal(3, options.Int("steps"));
        var e = Assert.Throws<InvalidOperationException>(options.RejectUnused);
        Assert.Contains("--extra", e.Message);
        Assert.False(Commands.IsExpected(e));
    }
}
