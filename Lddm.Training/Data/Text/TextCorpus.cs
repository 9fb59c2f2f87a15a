using System.Globalization;
using System.Text;

namespace Lddm.Training.Data.Text;

/// <summary>Normalised train / validation / test text.</summary>
public sealed record TextSplits(string Train, string Valid, string Test);

/// <summary>Splits and the normalisation report of the raw text they came from.</summary>
public sealed record PreparedCorpus(TextSplits Splits, NormalizationReport Report);

/// <summary>
/// Character-level corpora: preparation (normalise, split), files on disk and the bundled Moby-Dick.
/// A prepared corpus directory holds <c>train.txt</c>, <c>valid.txt</c> and <c>test.txt</c>, each normalised text
/// (<see cref="TextNormalizer"/>) followed by one newline.
/// </summary>
public static class TextCorpus
{
    public const string TrainFile = "train.txt";
    public const string ValidFile = "valid.txt";
    public const string TestFile = "test.txt";

    /// <summary>Where <c>scripts/fetch-corpus.sh</c> leaves the raw State-of-the-Union speeches (repository-relative).</summary>
    public const string SotuRawDirectory = ".cache/corpora/sotu/raw";

    /// <summary>Where the prepared SOTU splits go by default (repository-relative).</summary>
    public const string SotuDirectory = ".cache/corpora/sotu";

    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Normalises <paramref name="rawText"/> and cuts it into three contiguous blocks: the first ≈ trainFraction of
    /// the characters, the next ≈ validFraction, the rest. Each cut moves forward to the next space, which is removed,
    /// so every split is itself normalised text (no split starts or ends inside a word).
    /// </summary>
    public static PreparedCorpus Prepare(string rawText, double trainFraction = 0.9, double validFraction = 0.05)
    {
        if (!(trainFraction > 0 && validFraction > 0 && trainFraction + validFraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(trainFraction), FormattableString.Invariant(
                $"Split fractions must be > 0 and leave room for a test split; got train {trainFraction}, validation {validFraction}."));
        }
        var normalized = TextNormalizer.Normalize(rawText);
        string text = normalized.Text;
        int a = Cut(text, trainFraction, 0);
        int b = Cut(text, trainFraction + validFraction, a + 1);
        if (a >= text.Length || b >= text.Length || b <= a + 1)
        {
            throw new ArgumentException($"Text of {text.Length} normalised characters is too short to split into three non-empty parts.", nameof(rawText));
        }
        var splits = new TextSplits(text[..a], text[(a + 1)..b], text[(b + 1)..]);
        return new PreparedCorpus(splits, normalized.Report);
    }

    /// <summary>
    /// Prepares the State-of-the-Union corpus: every <c>YYYY_*.txt</c> in <paramref name="rawDirectory"/> is normalised
    /// and assigned by year (before 2000 → train, 2000–2010 → validation, after 2010 → test); within a split the
    /// speeches are joined in (year, file name) order with one space. Writes the splits to
    /// <paramref name="outputDirectory"/> and returns them with the combined report.
    /// </summary>
    public static PreparedCorpus PrepareSotu(string rawDirectory, string outputDirectory)
    {
        if (!Directory.Exists(rawDirectory))
        {
            throw new DirectoryNotFoundException($"SOTU raw directory '{rawDirectory}' does not exist; run scripts/fetch-corpus.sh first (it fills {SotuRawDirectory}/).");
        }
        var speeches = Directory.GetFiles(rawDirectory, "*.txt")
            .Select(path => (Path: path, Year: YearOf(path)))
            .OrderBy(s => s.Year).ThenBy(s => Path.GetFileName(s.Path), StringComparer.Ordinal)
            .ToList();
        if (speeches.Count == 0)
        {
            throw new InvalidDataException($"SOTU raw directory '{rawDirectory}' holds no .txt speeches; run scripts/fetch-corpus.sh.");
        }
        var parts = new[] { new List<string>(), new List<string>(), new List<string>() };
        NormalizationReport? report = null;
        foreach (var (path, year) in speeches)
        {
            var normalized = TextNormalizer.Normalize(File.ReadAllText(path, s_utf8));
            report = report is null ? normalized.Report : NormalizationReport.Combine(report, normalized.Report);
            if (normalized.Text.Length > 0)
            {
                parts[year < 2000 ? 0 : year <= 2010 ? 1 : 2].Add(normalized.Text);
            }
        }
        string[] names = ["train (before 2000)", "validation (2000–2010)", "test (after 2010)"];
        for (int k = 0; k < 3; k++)
        {
            if (parts[k].Count == 0)
            {
                throw new InvalidDataException($"SOTU raw directory '{rawDirectory}' has no speech for the {names[k]} split.");
            }
        }
        var splits = new TextSplits(string.Join(' ', parts[0]), string.Join(' ', parts[1]), string.Join(' ', parts[2]));
        Save(splits, outputDirectory);
        return new PreparedCorpus(splits, report!);
    }

    /// <summary>Writes the three splits (UTF-8, one trailing newline each), each file atomically.</summary>
    public static void Save(TextSplits splits, string directory)
    {
        ArgumentNullException.ThrowIfNull(splits);
        Directory.CreateDirectory(directory);
        foreach (var (file, text) in new[] { (TrainFile, splits.Train), (ValidFile, splits.Valid), (TestFile, splits.Test) })
        {
            string path = Path.Combine(directory, file);
            string temp = $"{path}.tmp-{Guid.NewGuid():N}";
            File.WriteAllText(temp, text + "\n", s_utf8);
            File.Move(temp, path, overwrite: true);
        }
    }

    /// <summary>
    /// Reads a prepared corpus directory. Missing files and text that is not normalised give errors that say which
    /// file, where, and how to produce it.
    /// </summary>
    public static TextSplits Load(string directory)
    {
        string Read(string file)
        {
            string path = Path.Combine(directory, file);
            if (!File.Exists(path))
            {
                throw new FileNotFoundException(
                    $"Corpus file '{path}' is missing. The bundled Moby-Dick splits are in data/moby-dick/ (or use TextCorpus.LoadMobyDick()); " +
                    $"for the State-of-the-Union corpus run scripts/fetch-corpus.sh from the repository root (it fetches the speeches into " +
                    $"{SotuRawDirectory}/ and prepares the splits in {SotuDirectory}/ with 'lddm prepare-corpus').", path);
            }
            return Parse(File.ReadAllText(path, s_utf8), path);
        }
        return new TextSplits(Read(TrainFile), Read(ValidFile), Read(TestFile));
    }

    /// <summary>The bundled Moby-Dick corpus (data/moby-dick/, embedded in this assembly).</summary>
    public static TextSplits LoadMobyDick()
    {
        string Read(string file)
        {
            string name = "Lddm.Training.Corpora.moby-dick." + file;
            using var stream = typeof(TextCorpus).Assembly.GetManifestResourceStream(name)
                ?? throw new InvalidOperationException($"Embedded corpus resource '{name}' is missing from {typeof(TextCorpus).Assembly.GetName().Name}.");
            using var reader = new StreamReader(stream, s_utf8);
            return Parse(reader.ReadToEnd(), name);
        }
        return new TextSplits(Read(TrainFile), Read(ValidFile), Read(TestFile));
    }

    /// <summary>File text minus its one trailing newline; must be normalised.</summary>
    private static string Parse(string content, string source)
    {
        string text = content.EndsWith('\n') ? content[..^1] : content;
        int bad = TextNormalizer.FirstViolation(text);
        if (bad >= 0)
        {
            throw new InvalidDataException(string.Format(CultureInfo.InvariantCulture,
                "Corpus file '{0}' is not normalised text: character U+{1:X4} at position {2} (expected only a–z and single inner spaces). Regenerate it with TextCorpus.Prepare.",
                source, (int)text[bad], bad));
        }
        if (text.Length == 0)
        {
            throw new InvalidDataException($"Corpus file '{source}' is empty.");
        }
        return text;
    }

    private static int Cut(string text, double fraction, int from)
    {
        int start = Math.Max(from, (int)(fraction * text.Length));
        int space = start < text.Length ? text.IndexOf(' ', start) : -1;
        return space < 0 ? text.Length : space;
    }

    private static int YearOf(string path)
    {
        string name = Path.GetFileName(path);
        if (name.Length < 5 || name[4] != '_' || !int.TryParse(name.AsSpan(0, 4), NumberStyles.None, CultureInfo.InvariantCulture, out int year))
        {
            throw new InvalidDataException($"SOTU file '{path}' is not named YYYY_president_party.txt; cannot assign it to a split by year.");
        }
        return year;
    }
}
