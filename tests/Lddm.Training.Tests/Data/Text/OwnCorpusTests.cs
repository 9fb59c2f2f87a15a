using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Lddm.Training.Data;
using Lddm.Training.Data.Text;
using Lddm.Training.Runs;
using Xunit;

namespace Lddm.Training.Tests.Data.Text;

/// <summary>A user's own text: normalised as documented, split 90/5/5 at word breaks, cached beside the run.</summary>
public sealed class OwnCorpusTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-own-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }

    /// <summary>Text of <paramref name="words"/> random words with punctuation, digits and accents between them.</summary>
    private static string Prose(int seed, int words)
    {
        var rng = new Random(seed);
        string[] junk = [" ", ", ", ". ", "! ", " — ", "\n", " 42 ", " «", "» ", " café ", "’s "];
        var text = new StringBuilder();
        for (int w = 0; w < words; w++)
        {
            for (int k = rng.Next(1, 9); k > 0; k--)
            {
                text.Append((char)(rng.Next(2) == 0 ? 'a' + rng.Next(26) : 'A' + rng.Next(26)));
            }
            text.Append(junk[rng.Next(junk.Length)]);
        }
        return text.ToString();
    }

    /// <summary>
    /// Any text: either one error naming the source and the minimum (20 × L normalised characters), or three splits that
    /// are, with the two cut spaces put back, exactly the normalised text, cut at the first word break at or after 90 %
    /// and 95 % of it.
    /// </summary>
    [Property(Arbitrary = [typeof(MessyText)], MaxTest = 300)]
    public void Own_text_is_the_normalised_text_cut_90_5_5_at_word_breaks_or_one_error_naming_the_minimum(string raw, PositiveInt lengthSeed)
    {
        int length = 1 + lengthSeed.Get % 8;
        string normalized = TextNormalizer.Normalize(raw).Text;
        long minimum = 20L * length;
        Assert.Equal(minimum, OwnCorpus.MinimumCharacters(length));
        PreparedCorpus prepared;
        try
        {
            prepared = OwnCorpus.FromText(raw, length, "my-text");
        }
        catch (InvalidDataException e)
        {
            Assert.Contains("'my-text'", e.Message);
            Assert.Contains(minimum.ToString("N0", CultureInfo.InvariantCulture), e.Message);
            Assert.Contains(normalized.Length < minimum ? (raw.Length == 0 ? "is empty" : "is too short") : "after cutting at word breaks", e.Message);
            return;
        }
        Assert.True(normalized.Length >= minimum, $"{normalized.Length} characters were accepted below the minimum {minimum}");
        var s = prepared.Splits;
        Assert.Equal(normalized, $"{s.Train} {s.Valid} {s.Test}");
        Assert.Equal(ReferenceCut(normalized, 0.9, 0), s.Train.Length);
        Assert.Equal(ReferenceCut(normalized, 0.95, s.Train.Length + 1), s.Train.Length + 1 + s.Valid.Length);
        Assert.True(s.Train.Length >= length && s.Valid.Length >= length);
        Assert.All(new[] { s.Train, s.Valid, s.Test }, t => Assert.True(TextNormalizer.IsNormalized(t)));
    }

    /// <summary>The first space at or after max(fraction · n, from) (a fresh statement of the documented rule).</summary>
    private static int ReferenceCut(string text, double fraction, int from)
    {
        for (int i = Math.Max(from, (int)(fraction * text.Length)); i < text.Length; i++)
        {
            if (text[i] == ' ')
            {
                return i;
            }
        }
        return text.Length;
    }

    [Fact]
    public void Characters_outside_the_alphabet_are_normalised_as_documented()
    {
        string raw = string.Concat(Enumerable.Repeat("Café «Ahab», 1851 — the Whale’s ﬁn! ", 40));
        var prepared = OwnCorpus.FromText(raw, 8);
        string all = $"{prepared.Splits.Train} {prepared.Splits.Valid} {prepared.Splits.Test}";
        Assert.StartsWith("cafe ahab one eight five one the whales fin cafe ahab", all);
        Assert.All(all, c => Assert.True(c is >= 'a' and <= 'z' or ' ', $"U+{(int)c:X4} survived"));
        var r = prepared.Report;
        Assert.Equal(40 * 2, r.Folded); // é and ﬁ, once each per repetition
        Assert.Equal(40 * 4, r.Digits);
        Assert.Equal(40, r.Dropped); // ’
        Assert.Equal(40L * 5, r.Spaced); // « » , — !
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("Call me Ishmael.", "is too short: 15 characters after normalisation")]
    [InlineData("!!! ... ---", "is too short: 0 characters after normalisation")]
    public void An_empty_or_too_short_file_is_one_error_naming_the_file_and_the_minimum(string text, string expected)
    {
        string path = Write("short.txt", text);
        var e = Assert.Throws<InvalidDataException>(() => OwnCorpus.FromFile(path, 64));
        Assert.Contains($"'{path}'", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains("at least 1,280 characters after normalisation", e.Message);
    }

    [Fact]
    public void A_missing_path_an_empty_folder_and_bytes_that_are_not_utf8_are_named()
    {
        string missing = Path.Combine(_dir, "nope.txt");
        Assert.Contains($"'{missing}' does not exist", Assert.Throws<FileNotFoundException>(() => OwnCorpus.FromFile(missing, 8)).Message);
        string empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        Assert.Contains("holds no .txt files", Assert.Throws<InvalidDataException>(() => OwnCorpus.FromFile(empty, 8)).Message);
        string latin1 = Path.Combine(_dir, "latin1.txt");
        File.WriteAllBytes(latin1, [.. Encoding.UTF8.GetBytes(Prose(1, 400)), 0xE9, 0x20, 0x61]);
        var e = Assert.Throws<InvalidDataException>(() => OwnCorpus.FromFile(latin1, 8));
        Assert.Contains($"'{latin1}' is not UTF-8", e.Message);
    }

    [Fact]
    public void A_folder_is_its_txt_files_in_name_order_joined_by_one_space()
    {
        string a = Prose(2, 300), b = Prose(3, 300);
        Write("folder/b.txt", b);
        Write("folder/a.txt", a);
        Write("folder/notes.md", "ignored");
        var fromFolder = OwnCorpus.FromFile(Path.Combine(_dir, "folder"), 8);
        var expected = TextCorpus.Prepare(TextNormalizer.Normalize(a).Text + " " + TextNormalizer.Normalize(b).Text).Splits;
        Assert.Equal(expected, fromFolder.Splits);
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(a));
        Assert.Equal(OwnCorpus.FromText(a, 8).Splits, OwnCorpus.FromStream(stream, 8).Splits);
    }

    [Fact]
    public void A_run_caches_its_splits_and_reads_them_back_whatever_happens_to_the_source()
    {
        string source = Write("own.txt", Prose(4, 2000));
        string run = Path.Combine(_dir, "run");
        var config = new TrainConfig { Corpus = source, Length = 16 }.Validate();
        var first = (TextData)TrainingRun.Data(config, run);
        string cache = Path.Combine(run, OwnCorpus.CacheFolder);
        var cached = TextCorpus.Load(cache);
        Assert.Equal(OwnCorpus.FromFile(source, 16).Splits, cached);
        Assert.Contains(Path.GetFullPath(source), File.ReadAllText(Path.Combine(cache, OwnCorpus.SourceFile)));

        // Before the run has saved anything, a changed source is prepared again (a failed start leaves no stale data).
        File.WriteAllText(source, Prose(5, 2000));
        TrainingRun.Data(config, run);
        Assert.Equal(OwnCorpus.FromFile(source, 16).Splits, TextCorpus.Load(cache));

        // Once it has (run.json), the cache is the run's data: the source may change or vanish.
        var store = new Lddm.Training.Checkpoints.CheckpointStore(run);
        store.SaveRunConfig(config.ToJson());
        var trained = TextCorpus.Load(cache);
        File.WriteAllText(source, Prose(6, 2000));
        var resumed = (TextData)TrainingRun.Data(config, run);
        Assert.Equal(trained, TextCorpus.Load(cache));
        File.Delete(source);
        var loaded = (TextData)TrainingRun.Data(config, run);
        Assert.Equal(resumed.Description, loaded.Description);
        Assert.Equal(resumed.Validation(8), loaded.Validation(8));

        // A two-stage run's stage1 folder reads the run's cache.
        string stage1 = Directory.CreateDirectory(Path.Combine(run, "stage1")).FullName;
        Assert.Equal(loaded.Validation(8), TrainingRun.Data(config, stage1).Validation(8));
        Assert.False(Directory.Exists(Path.Combine(stage1, OwnCorpus.CacheFolder)));
        Assert.Contains(source, first.Description);
    }
}
