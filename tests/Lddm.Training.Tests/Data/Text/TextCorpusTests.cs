using Lddm.Training.Data.Text;
using Xunit;

namespace Lddm.Training.Tests.Data.Text;

public sealed class TextCorpusTests : IDisposable
{
    /// <summary>Path of the raw stdlib Moby-Dick data.txt; when set, the committed splits must be reproduced exactly.</summary>
    public const string RawEnvironmentVariable = "LDDM_MOBY_DICK_RAW";

    private readonly string _temp = Path.Combine(Path.GetTempPath(), "lddm-corpus-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_temp))
        {
            Directory.Delete(_temp, recursive: true);
        }
    }

    private static string MobyDickDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "data", "moby-dick");
            if (File.Exists(Path.Combine(dir.FullName, "Lddm.sln")) && Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException("data/moby-dick not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void CommittedMobyDickSplitsAreNormalisedAndReNormalisingIsANoOp()
    {
        var splits = TextCorpus.Load(MobyDickDirectory());
        foreach (string text in new[] { splits.Train, splits.Valid, splits.Test })
        {
            var again = TextNormalizer.Normalize(text);
            Assert.Equal(text, again.Text);
            Assert.Equal(0, again.Report.Removed);
        }
        double total = splits.Train.Length + splits.Valid.Length + splits.Test.Length;
        Assert.InRange(splits.Train.Length / total, 0.89, 0.91);
        Assert.InRange(splits.Valid.Length / total, 0.04, 0.06);
    }

    [Fact]
    public void CommittedSplitsAreExactlyThePreparedRawTextWhenTheRawFileIsAvailable()
    {
        string? raw = Environment.GetEnvironmentVariable(RawEnvironmentVariable);
        if (string.IsNullOrEmpty(raw))
        {
            return; // Reproduction needs the npm package; idempotence is checked above without it.
        }
        var prepared = TextCorpus.Prepare(File.ReadAllText(raw));
        Assert.Equal(prepared.Splits, TextCorpus.Load(MobyDickDirectory()));
    }

    [Fact]
    public void EmbeddedCorpusEqualsTheCommittedFiles()
    {
        Assert.Equal(TextCorpus.Load(MobyDickDirectory()), TextCorpus.LoadMobyDick());
    }

    [Fact]
    public void PrepareCutsContiguousBlocksAtWordBoundaries()
    {
        string raw = string.Join(", ", Enumerable.Range(0, 500).Select(i => $"Word{i % 10} Ahab’s"));
        var prepared = TextCorpus.Prepare(raw);
        var s = prepared.Splits;
        Assert.Equal(TextNormalizer.Normalize(raw).Text, $"{s.Train} {s.Valid} {s.Test}");
        Assert.All(new[] { s.Train, s.Valid, s.Test }, part => Assert.True(TextNormalizer.IsNormalized(part) && part.Length > 0));
        Assert.Equal(500, prepared.Report.DroppedByCharacter["’"]);
    }

    [Fact]
    public void SaveThenLoadRoundTrips()
    {
        var splits = new TextSplits("call me ishmael", "some years ago", "never mind");
        TextCorpus.Save(splits, _temp);
        Assert.Equal(splits, TextCorpus.Load(_temp));
        Assert.Equal(3, Directory.GetFiles(_temp).Length);
    }

    [Fact]
    public void MissingFileNamesItAndTheFetchScript()
    {
        var error = Assert.Throws<FileNotFoundException>(() => TextCorpus.Load(_temp));
        Assert.Contains(TextCorpus.TrainFile, error.Message);
        Assert.Contains("scripts/fetch-corpus.sh", error.Message);
        Assert.Contains("lddm prepare-corpus", error.Message);
    }

    [Fact]
    public void NonNormalisedFileIsRejectedWithThePosition()
    {
        TextCorpus.Save(new TextSplits("ok", "fine", "good"), _temp);
        File.WriteAllText(Path.Combine(_temp, TextCorpus.ValidFile), "fine, really\n");
        var error = Assert.Throws<InvalidDataException>(() => TextCorpus.Load(_temp));
        Assert.Contains(TextCorpus.ValidFile, error.Message);
        Assert.Contains("position 4", error.Message);
    }

    [Fact]
    public void SotuIsSplitByYear()
    {
        string raw = Path.Combine(_temp, "raw");
        Directory.CreateDirectory(raw);
        File.WriteAllText(Path.Combine(raw, "1999_b_d.txt"), "Second, 1999.");
        File.WriteAllText(Path.Combine(raw, "1790_a_n.txt"), "Fellow-Citizens!");
        File.WriteAllText(Path.Combine(raw, "2000_c_r.txt"), "Millennium");
        File.WriteAllText(Path.Combine(raw, "2010_d_d.txt"), "Recovery");
        File.WriteAllText(Path.Combine(raw, "2011_e_d.txt"), "Future’s");
        string output = Path.Combine(_temp, "out");
        var prepared = TextCorpus.PrepareSotu(raw, output);
        var expected = new TextSplits("fellow citizens second one nine nine nine", "millennium recovery", "futures");
        Assert.Equal(expected, prepared.Splits);
        Assert.Equal(expected, TextCorpus.Load(output));
        Assert.Equal(1, prepared.Report.DroppedByCharacter["’"]);
    }

    [Fact]
    public void SotuRejectsBadNamesAndEmptySplits()
    {
        string raw = Path.Combine(_temp, "raw");
        Directory.CreateDirectory(raw);
        File.WriteAllText(Path.Combine(raw, "1999_b_d.txt"), "one");
        var missing = Assert.Throws<InvalidDataException>(() => TextCorpus.PrepareSotu(raw, Path.Combine(_temp, "out")));
        Assert.Contains("validation", missing.Message);
        File.WriteAllText(Path.Combine(raw, "speech.txt"), "x");
        Assert.Contains("YYYY_", Assert.Throws<InvalidDataException>(() => TextCorpus.PrepareSotu(raw, _temp)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => TextCorpus.PrepareSotu(Path.Combine(_temp, "nope"), _temp));
    }
}
