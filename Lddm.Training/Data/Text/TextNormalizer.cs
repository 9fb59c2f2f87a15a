using System.Globalization;
using System.Text;

namespace Lddm.Training.Data.Text;

/// <summary>
/// What <see cref="TextNormalizer"/> did to its input, so nothing is lost silently. Counts are of input characters
/// (Unicode scalar values). <see cref="Dropped"/> left no trace; <see cref="Spaced"/> became a word break.
/// </summary>
public sealed record NormalizationReport(
    long InputCharacters,
    long OutputCharacters,
    long Letters,
    long Folded,
    long Digits,
    long Whitespace,
    long Spaced,
    long Dropped,
    IReadOnlyDictionary<string, long> SpacedByCharacter,
    IReadOnlyDictionary<string, long> DroppedByCharacter)
{
    /// <summary>Characters whose content did not survive: punctuation and symbols turned into spaces plus dropped ones.</summary>
    public long Removed => Spaced + Dropped;

    /// <summary>Sum of two reports (for corpora normalised file by file).</summary>
    public static NormalizationReport Combine(NormalizationReport a, NormalizationReport b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return new NormalizationReport(
            a.InputCharacters + b.InputCharacters, a.OutputCharacters + b.OutputCharacters, a.Letters + b.Letters,
            a.Folded + b.Folded, a.Digits + b.Digits, a.Whitespace + b.Whitespace, a.Spaced + b.Spaced, a.Dropped + b.Dropped,
            Merge(a.SpacedByCharacter, b.SpacedByCharacter), Merge(a.DroppedByCharacter, b.DroppedByCharacter));
    }

    /// <summary>One line per category and the most frequent removed characters, for logs and READMEs.</summary>
    public string Describe(int top = 12)
    {
        string Top(IReadOnlyDictionary<string, long> counts) => string.Join(", ", counts
            .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(top)
            .Select(kv => FormattableString.Invariant($"{Show(kv.Key)} ×{kv.Value}")));
        return FormattableString.Invariant(
            $"input {InputCharacters} chars → output {OutputCharacters}; letters {Letters} (folded {Folded}), digits spelled {Digits}, whitespace {Whitespace}, ") +
            FormattableString.Invariant($"turned into spaces {Spaced} [{Top(SpacedByCharacter)}], dropped {Dropped} [{Top(DroppedByCharacter)}]");
    }

    private static string Show(string c) => c.Length == 1 && char.IsControl(c[0])
        ? FormattableString.Invariant($"U+{(int)c[0]:X4}")
        : $"'{c}'";

    private static Dictionary<string, long> Merge(IReadOnlyDictionary<string, long> a, IReadOnlyDictionary<string, long> b)
    {
        var merged = new Dictionary<string, long>(a, StringComparer.Ordinal);
        foreach (var (key, value) in b)
        {
            merged[key] = merged.GetValueOrDefault(key) + value;
        }
        return merged;
    }
}

/// <summary>Normalised text and what happened to the input.</summary>
public sealed record NormalizedText(string Text, NormalizationReport Report);

/// <summary>
/// text8-style normalisation: the output holds only 'a'–'z' and single spaces, with no leading or trailing space.
/// Letters are lower-cased; Latin letters with diacritics are folded (é → e, æ → ae, ß → ss); ASCII digits are spelled out
/// as separate words ("1851" → "one eight five one"); apostrophes and invisible marks are dropped so contractions stay
/// one word ("whale’s" → "whales"); every other character (punctuation, symbols, other scripts) becomes a word break,
/// so words never merge; runs of spaces collapse to one. Idempotent: normalising the output returns it unchanged.
/// </summary>
public static class TextNormalizer
{
    private static readonly string[] s_digitWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

    /// <summary>
    /// Latin letters with diacritics and ligatures folded to ASCII, as runs (first code point, count, fold): the
    /// Latin-1 letters, all of Latin Extended-A and the Latin ligatures ﬀ–ﬆ. A table rather than NFKD because
    /// normalisation needs ICU, which invariant globalisation (our setting) turns off.
    /// </summary>
    private static readonly (int First, int Count, string Fold)[] s_foldRuns =
    [
        (0xC0, 6, "a"), (0xC6, 1, "ae"), (0xC7, 1, "c"), (0xC8, 4, "e"), (0xCC, 4, "i"), (0xD0, 1, "d"), (0xD1, 1, "n"),
        (0xD2, 5, "o"), (0xD8, 1, "o"), (0xD9, 4, "u"), (0xDD, 1, "y"), (0xDE, 1, "th"), (0xDF, 1, "ss"),
        (0xE0, 6, "a"), (0xE6, 1, "ae"), (0xE7, 1, "c"), (0xE8, 4, "e"), (0xEC, 4, "i"), (0xF0, 1, "d"), (0xF1, 1, "n"),
        (0xF2, 5, "o"), (0xF8, 1, "o"), (0xF9, 4, "u"), (0xFD, 1, "y"), (0xFE, 1, "th"), (0xFF, 1, "y"),
        (0x100, 6, "a"), (0x106, 8, "c"), (0x10E, 4, "d"), (0x112, 10, "e"), (0x11C, 8, "g"), (0x124, 4, "h"),
        (0x128, 10, "i"), (0x132, 2, "ij"), (0x134, 2, "j"), (0x136, 3, "k"), (0x139, 10, "l"), (0x143, 9, "n"),
        (0x14C, 6, "o"), (0x152, 2, "oe"), (0x154, 6, "r"), (0x15A, 8, "s"), (0x162, 6, "t"), (0x168, 12, "u"),
        (0x174, 2, "w"), (0x176, 3, "y"), (0x179, 6, "z"), (0x17F, 1, "s"),
        (0xFB00, 1, "ff"), (0xFB01, 1, "fi"), (0xFB02, 1, "fl"), (0xFB03, 1, "ffi"), (0xFB04, 1, "ffl"), (0xFB05, 2, "st"),
    ];

    private static readonly Dictionary<int, string> s_folds = s_foldRuns
        .SelectMany(run => Enumerable.Range(run.First, run.Count).Select(v => (v, run.Fold)))
        .ToDictionary(e => e.v, e => e.Fold);

    /// <summary>Characters removed without a word break: apostrophes (so "don’t" → "dont") and invisible format marks.</summary>
    private static bool IsDropped(Rune r) =>
        r.Value is '\'' or '\u2019' or '\u2018' or '\u02BC' or '`' or '\u00AD' ||
        Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.Format;

    public static NormalizedText Normalize(string raw)
    {
        ArgumentNullException.ThrowIfNull(raw);
        var output = new StringBuilder(raw.Length);
        var spacedBy = new Dictionary<string, long>(StringComparer.Ordinal);
        var droppedBy = new Dictionary<string, long>(StringComparer.Ordinal);
        long input = 0, letters = 0, folded = 0, digits = 0, whitespace = 0, spaced = 0, dropped = 0;
        bool pendingSpace = false;

        void Emit(string word)
        {
            if (pendingSpace && output.Length > 0)
            {
                output.Append(' ');
            }
            pendingSpace = false;
            output.Append(word);
        }

        foreach (Rune r in raw.EnumerateRunes())
        {
            input++;
            int v = r.Value;
            if (v is >= 'a' and <= 'z' or >= 'A' and <= 'Z')
            {
                letters++;
                Emit(((char)(v | 0x20)).ToString());
            }
            else if (v is >= '0' and <= '9')
            {
                digits++;
                pendingSpace = true;
                Emit(s_digitWords[v - '0']);
                pendingSpace = true;
            }
            else if (Rune.IsWhiteSpace(r))
            {
                whitespace++;
                pendingSpace = true;
            }
            else if (Fold(r) is { } ascii)
            {
                folded++;
                Emit(ascii);
            }
            else if (IsDropped(r))
            {
                dropped++;
                droppedBy[r.ToString()] = droppedBy.GetValueOrDefault(r.ToString()) + 1;
            }
            else
            {
                spaced++;
                spacedBy[r.ToString()] = spacedBy.GetValueOrDefault(r.ToString()) + 1;
                pendingSpace = true;
            }
        }
        string text = output.ToString();
        var report = new NormalizationReport(input, text.Length, letters, folded, digits, whitespace, spaced, dropped, spacedBy, droppedBy);
        return new NormalizedText(text, report);
    }

    /// <summary>True when <paramref name="text"/> is already normalised (only a–z and single inner spaces).</summary>
    public static bool IsNormalized(ReadOnlySpan<char> text) => FirstViolation(text) < 0;

    /// <summary>Index of the first character that breaks the normal form, or −1.</summary>
    public static int FirstViolation(ReadOnlySpan<char> text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            bool ok = c is >= 'a' and <= 'z' || (c == ' ' && i > 0 && i < text.Length - 1 && text[i - 1] != ' ');
            if (!ok)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>A non-ASCII Latin letter or ligature folded to a–z (é → e, æ → ae, ß → ss, ﬁ → fi), or null.</summary>
    private static string? Fold(Rune r) => s_folds.GetValueOrDefault(r.Value);
}
