using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lddm.Training.Data.Text;

/// <summary>
/// A user's own text as a training corpus: a string, a stream, a UTF-8 file or a folder of <c>.txt</c> files,
/// normalised by <see cref="TextNormalizer"/> (a–z and single spaces: letters lower-cased, Latin diacritics folded,
/// digits spelled out, apostrophes dropped, every other character a word break) and split like the bundled Moby-Dick
/// (<see cref="TextCorpus.Prepare"/>): the first 90 % of the normalised text is the training split, the next 5 %
/// validation, the last 5 % test, each cut moved forward to the next word break. A folder's files are normalised one by
/// one and joined with one space in ordinal file-name order.
/// </summary>
public static class OwnCorpus
{
    /// <summary>The fraction of the normalised text in the training split.</summary>
    public const double TrainFraction = 0.9;

    /// <summary>The fraction in the validation split (the test split is the rest).</summary>
    public const double ValidFraction = 0.05;

    /// <summary>The folder of a run that holds its prepared own-text splits (and <see cref="SourceFile"/>).</summary>
    public const string CacheFolder = "corpus";

    /// <summary>The cache's record of where the text came from and the SHA-256 of its raw bytes.</summary>
    public const string SourceFile = "source.json";

    /// <summary>The cache's normalisation report (what was folded, spelled out, turned into spaces or dropped).</summary>
    public const string ReportFile = "normalization.txt";

    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The fewest normalised characters a text needs for sequences of <paramref name="sequenceLength"/>: 20 × L, so that
    /// the 5 % validation split can hold one sequence.
    /// </summary>
    public static long MinimumCharacters(int sequenceLength) => (long)Math.Ceiling(Math.Max(sequenceLength, 1) / ValidFraction);

    /// <summary>Normalises and splits <paramref name="rawText"/>; <paramref name="source"/> names it in errors.</summary>
    public static PreparedCorpus FromText(string rawText, int sequenceLength, string source = "text")
    {
        ArgumentNullException.ThrowIfNull(rawText);
        return Split(TextNormalizer.Normalize(rawText), sequenceLength, source);
    }

    /// <summary>Reads <paramref name="stream"/> as UTF-8 to its end, then as <see cref="FromText"/>.</summary>
    public static PreparedCorpus FromStream(Stream stream, int sequenceLength, string source = "stream")
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var reader = new StreamReader(stream, s_utf8, detectEncodingFromByteOrderMarks: true, leaveOpen: true);
        return FromText(Read(reader.ReadToEnd, source), sequenceLength, source);
    }

    /// <summary>A UTF-8 text file, or a folder whose <c>.txt</c> files are joined in ordinal name order.</summary>
    public static PreparedCorpus FromFile(string path, int sequenceLength)
    {
        ArgumentNullException.ThrowIfNull(path);
        var files = Files(path);
        NormalizationReport? report = null;
        var parts = new List<string>();
        foreach (string file in files)
        {
            var normalized = TextNormalizer.Normalize(Read(() => File.ReadAllText(file, s_utf8), file));
            report = report is null ? normalized.Report : NormalizationReport.Combine(report, normalized.Report);
            if (normalized.Text.Length > 0)
            {
                parts.Add(normalized.Text);
            }
        }
        return Split(new NormalizedText(string.Join(' ', parts), report!), sequenceLength, path);
    }

    /// <summary>
    /// The splits of <paramref name="source"/> (a file or folder) for a run whose cache is <paramref name="cacheDirectory"/>
    /// (null: no cache). A run that has <paramref name="started"/> (saved its config or a checkpoint) always reads its
    /// cache back as it is, so a resumed run or a loaded checkpoint sees exactly the text it was trained on, wherever the
    /// source now is and whatever it now holds. Otherwise a cache made from the same bytes is reused, and the source is
    /// prepared and the cache (re)written.
    /// </summary>
    public static TextSplits Cached(string source, string? cacheDirectory, int sequenceLength, bool started = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        bool exists = File.Exists(source) || Directory.Exists(source);
        string? recorded = cacheDirectory is null ? null : RecordedHash(cacheDirectory);
        if (recorded is not null && (started || !exists || Hash(Files(source)) == recorded))
        {
            return TextCorpus.Load(cacheDirectory!);
        }
        if (!exists)
        {
            throw new FileNotFoundException(
                $"Corpus '{source}' does not exist: expected moby-dick, sotu, or the path of a UTF-8 .txt file or of a folder of .txt files.", source);
        }
        var prepared = FromFile(source, sequenceLength);
        if (cacheDirectory is not null)
        {
            TextCorpus.Save(prepared.Splits, cacheDirectory);
            File.WriteAllText(Path.Combine(cacheDirectory, ReportFile), prepared.Report.Describe(20) + "\n", s_utf8);
            var record = new JsonObject
            {
                ["source"] = Path.GetFullPath(source),
                ["sha256"] = Hash(Files(source)),
                ["split"] = FormattableString.Invariant($"{TrainFraction} train, {ValidFraction} validation, the rest test (TextCorpus.Prepare)"),
            };
            string path = Path.Combine(cacheDirectory, SourceFile);
            string temp = $"{path}.tmp-{Guid.NewGuid():N}";
            File.WriteAllText(temp, record.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n", s_utf8);
            File.Move(temp, path, overwrite: true); // written last: a cache without it is incomplete and rebuilt
        }
        return prepared.Splits;
    }

    /// <summary>The files <paramref name="path"/> names: itself, or a folder's <c>.txt</c> files in ordinal order.</summary>
    private static List<string> Files(string path)
    {
        if (Directory.Exists(path))
        {
            var files = Directory.GetFiles(path, "*.txt").Order(StringComparer.Ordinal).ToList();
            return files.Count > 0 ? files : throw new InvalidDataException($"Corpus folder '{path}' holds no .txt files.");
        }
        return File.Exists(path) ? [path]
            : throw new FileNotFoundException(
                $"Corpus '{path}' does not exist: expected moby-dick, sotu, or the path of a UTF-8 .txt file or of a folder of .txt files.", path);
    }

    private static string Hash(IEnumerable<string> files)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string file in files)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(file) + "\0"));
            sha.AppendData(File.ReadAllBytes(file));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static string? RecordedHash(string cacheDirectory)
    {
        string path = Path.Combine(cacheDirectory, SourceFile);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonNode.Parse(File.ReadAllText(path, s_utf8))?["sha256"]?.GetValue<string>()
                ?? throw new InvalidDataException($"Corpus cache record '{path}' has no sha256; delete '{cacheDirectory}' to prepare the text again.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"Corpus cache record '{path}' is unreadable ({e.Message}); delete '{cacheDirectory}' to prepare the text again.", e);
        }
    }

    private static string Read(Func<string> read, string source)
    {
        try
        {
            return read();
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"Corpus '{source}' is not UTF-8 text (byte {e.Index} cannot be decoded); save it as UTF-8.", e);
        }
    }

    private static PreparedCorpus Split(NormalizedText normalized, int sequenceLength, string source)
    {
        if (sequenceLength < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(sequenceLength), sequenceLength, "The sequence length must be ≥ 1.");
        }
        long minimum = MinimumCharacters(sequenceLength);
        string Need() => string.Create(CultureInfo.InvariantCulture,
            $"sequences of {sequenceLength} characters need at least {minimum:N0} characters after normalisation (20 × the sequence length, so that the 5 % validation split holds one sequence)");
        if (normalized.Report.InputCharacters == 0)
        {
            throw new InvalidDataException($"Corpus '{source}' is empty: {Need()}.");
        }
        int length = normalized.Text.Length;
        if (length < minimum)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"Corpus '{source}' is too short: {length:N0} characters after normalisation ({normalized.Report.InputCharacters:N0} read; only letters, digits and word breaks are kept), but {Need()}."));
        }
        // Just above the minimum a long word that straddles a cut can still leave a split short: the cuts move to word
        // breaks (or find none before the end).
        string Short(string what) => string.Create(CultureInfo.InvariantCulture,
            $"Corpus '{source}' is too short: after cutting at word breaks {what}; give more text than the minimum of {minimum:N0} characters.");
        TextSplits s;
        try
        {
            s = TextCorpus.Prepare(normalized.Text, TrainFraction, ValidFraction).Splits;
        }
        catch (ArgumentException e) when (e is not ArgumentNullException and not ArgumentOutOfRangeException)
        {
            throw new InvalidDataException(Short("no word break is left for the validation or test split"), e);
        }
        if (s.Train.Length < sequenceLength || s.Valid.Length < sequenceLength)
        {
            throw new InvalidDataException(Short(string.Create(CultureInfo.InvariantCulture,
                $"its validation split has {s.Valid.Length:N0} characters, fewer than one sequence of {sequenceLength}")));
        }
        return new PreparedCorpus(s, normalized.Report);
    }
}
