using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Lddm.Training.Data.Text;
using Xunit;

namespace Lddm.Training.Tests.Data.Text;

/// <summary>Strings mixing every category the normaliser distinguishes, including surrogate pairs.</summary>
public static class MessyText
{
    private static readonly string[] s_pieces =
    [
        "a", "Z", "q", " ", "  ", "\n", "\t", "\r\n", "0", "7", "9", ",", ".", "—", "-", "’", "'", "‘", "“", "é", "Æ", "ß",
        "ﬁ", "Ł", "😀", "\u0301", "\u00AD", "日", "Ω", "$", "\u00A0", "whale", "Moby-Dick", "1851",
    ];

    public static Arbitrary<string> Strings() =>
        Gen.ArrayOf(Gen.Elements(s_pieces)).Select(parts => string.Concat(parts)).ToArbitrary();
}

public sealed class TextNormalizerTests
{
    [Property(Arbitrary = [typeof(MessyText)], MaxTest = 300)]
    public void OutputHoldsOnlyLowercaseLettersAndSingleInnerSpaces(string raw)
    {
        string text = TextNormalizer.Normalize(raw).Text;
        Assert.True(TextNormalizer.IsNormalized(text), $"'{text}' from '{raw}'");
        Assert.DoesNotContain("  ", text);
        Assert.All(text, c => Assert.True(c is >= 'a' and <= 'z' or ' '));
    }

    [Property(Arbitrary = [typeof(MessyText)], MaxTest = 300)]
    public void NormalisingTwiceChangesNothing(string raw)
    {
        var once = TextNormalizer.Normalize(raw);
        var twice = TextNormalizer.Normalize(once.Text);
        Assert.Equal(once.Text, twice.Text);
        Assert.Equal(0, twice.Report.Removed);
        Assert.Equal(0, twice.Report.Folded + twice.Report.Digits);
    }

    [Property(Arbitrary = [typeof(MessyText)], MaxTest = 300)]
    public void EveryInputCharacterIsAccountedForExactlyOnce(string raw)
    {
        var report = TextNormalizer.Normalize(raw).Report;
        long runes = raw.EnumerateRunes().Count();
        Assert.Equal(runes, report.InputCharacters);
        Assert.Equal(runes, report.Letters + report.Folded + report.Digits + report.Whitespace + report.Spaced + report.Dropped);
        Assert.Equal(report.Spaced, report.SpacedByCharacter.Values.Sum());
        Assert.Equal(report.Dropped, report.DroppedByCharacter.Values.Sum());
    }

    [Theory]
    [InlineData("In 1851, Moby-Dick!", "in one eight five one moby dick")]
    [InlineData("a1b", "a one b")]
    [InlineData("the whale’s  jaw—its teeth", "the whales jaw its teeth")]
    [InlineData("Café Ærø straße ﬁne Łódź", "cafe aero strasse fine lodz")]
    [InlineData("  \n\tleading and trailing \r\n ", "leading and trailing")]
    [InlineData("a😀b日c", "a b c")]
    [InlineData("don't", "dont")]
    [InlineData("", "")]
    public void NormalisesLikeText8(string raw, string expected)
    {
        Assert.Equal(expected, TextNormalizer.Normalize(raw).Text);
    }

    [Fact]
    public void ReportNamesWhatWasRemoved()
    {
        var report = TextNormalizer.Normalize("Ahoy, ship! Isn’t it—a whale?").Report;
        Assert.Equal(1, report.SpacedByCharacter[","]);
        Assert.Equal(1, report.SpacedByCharacter["!"]);
        Assert.Equal(1, report.SpacedByCharacter["—"]);
        Assert.Equal(1, report.SpacedByCharacter["?"]);
        Assert.Equal(1, report.DroppedByCharacter["’"]);
        Assert.Equal(5, report.Removed);
        Assert.Contains("dropped 1", report.Describe());
    }

    [Fact]
    public void CombinedReportsAddUp()
    {
        var a = TextNormalizer.Normalize("a, b").Report;
        var b = TextNormalizer.Normalize("c,, d’").Report;
        var sum = NormalizationReport.Combine(a, b);
        Assert.Equal(a.InputCharacters + b.InputCharacters, sum.InputCharacters);
        Assert.Equal(3, sum.SpacedByCharacter[","]);
        Assert.Equal(1, sum.DroppedByCharacter["’"]);
    }
}
