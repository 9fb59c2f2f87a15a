using System.Text;
using Lddm.Training.Data.Text;

namespace Lddm.Training.Conditional;

/// <summary>
/// What conditional generation keeps and what it generates: L positions, each a fixed token id in [0, K) or free
/// (stored as MASK = K). Every sampler starts from x_t = the template (fixed tokens visible from the first step),
/// passes it to <see cref="Lddm.Kernels.Backend.UnmaskStep"/> as its carry-over mask, and so never changes or redraws
/// a fixed token. An all-free template is unconditional sampling; an all-fixed one is returned as it is, with no
/// network call.
/// <para>Text templates use <see cref="Placeholder"/> ('_') for free positions: the corpus normaliser turns '_' into a
/// word break, so it never occurs in normalised text and cannot collide with a corpus character.</para>
/// </summary>
public sealed class GenerationTemplate
{
    /// <summary>The character that marks a free position in an infill string ("the ___ of the senate": 3 free positions).</summary>
    public const char Placeholder = '_';

    private readonly int[] _tokens;

    private GenerationTemplate(int[] tokens, int vocabulary)
    {
        _tokens = tokens;
        Vocabulary = vocabulary;
        FixedCount = tokens.Count(t => t != vocabulary);
    }

    /// <summary>L, the number of positions.</summary>
    public int Length => _tokens.Length;

    /// <summary>K, the number of real tokens; a free position holds K (MASK).</summary>
    public int Vocabulary { get; }

    /// <summary>The L ids: fixed tokens in [0, K), free positions K.</summary>
    public ReadOnlySpan<int> Tokens => _tokens;

    public int FixedCount { get; }

    public int FreeCount => Length - FixedCount;

    public bool IsFixed(int position) => _tokens[position] != Vocabulary;

    /// <summary>L free positions: unconditional generation.</summary>
    public static GenerationTemplate Free(int length, int vocabulary)
    {
        CheckShape(length, vocabulary);
        var tokens = new int[length];
        Array.Fill(tokens, vocabulary);
        return new GenerationTemplate(tokens, vocabulary);
    }

    /// <summary>Explicit ids: each in [0, K) (fixed) or K (free). Throws naming the first id out of range.</summary>
    public static GenerationTemplate FromTokens(ReadOnlySpan<int> tokens, int vocabulary)
    {
        CheckShape(tokens.Length, vocabulary);
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] > (uint)vocabulary)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i],
                    $"GenerationTemplate: token {tokens[i]} at position {i} is neither a token id in [0, {vocabulary}) nor free ({vocabulary} = MASK).");
            }
        }
        return new GenerationTemplate(tokens.ToArray(), vocabulary);
    }

    /// <summary>A prompt: <paramref name="prefix"/> fixed at positions 0..|prefix|, the rest of the L positions free.</summary>
    public static GenerationTemplate FromPrefix(ReadOnlySpan<int> prefix, int length, int vocabulary)
    {
        CheckShape(length, vocabulary);
        if (prefix.Length > length)
        {
            throw new ArgumentException(
                $"GenerationTemplate: the prompt has {prefix.Length} tokens but the sequence only {length} positions.", nameof(prefix));
        }
        var tokens = new int[length];
        Array.Fill(tokens, vocabulary);
        prefix.CopyTo(tokens);
        return FromTokens(tokens, vocabulary);
    }

    /// <summary>
    /// A text prompt continued to <paramref name="length"/> characters. With <paramref name="normalize"/> (default) the
    /// prompt goes through the corpus's <see cref="TextNormalizer"/> first, keeping one trailing space when it ends in
    /// whitespace (so "of the " continues with a new word). A character outside the vocabulary is an error naming it.
    /// </summary>
    public static GenerationTemplate FromPrompt(string prompt, int length, CharVocabulary vocabulary, bool normalize = true)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(vocabulary);
        string text = normalize ? Normalized(prompt, first: true, last: false) : prompt;
        if (text.Length == 0)
        {
            throw new ArgumentException("GenerationTemplate: the prompt is empty (after normalisation).", nameof(prompt));
        }
        if (text.Length > length)
        {
            throw new ArgumentException(
                $"GenerationTemplate: the prompt is {text.Length} characters (\"{text}\") but the sequence only {length} positions.", nameof(prompt));
        }
        return FromPrefix(Encode(vocabulary, text, nameof(prompt)), length, vocabulary.Size);
    }

    /// <summary>
    /// An infill: every <see cref="Placeholder"/> is one free position, every other character a fixed one; the
    /// template is padded with free positions on the right up to <paramref name="length"/> (the text continues). With
    /// <paramref name="normalize"/> each literal run between placeholders is normalised on its own, keeping one space
    /// where the run begins or ends in whitespace next to a placeholder. Errors: no placeholder, longer than L, a
    /// character outside the vocabulary (named).
    /// </summary>
    public static GenerationTemplate FromInfill(string infill, int length, CharVocabulary vocabulary, bool normalize = true)
    {
        ArgumentNullException.ThrowIfNull(infill);
        ArgumentNullException.ThrowIfNull(vocabulary);
        if (infill.IndexOf(Placeholder, StringComparison.Ordinal) < 0)
        {
            throw new ArgumentException(
                $"GenerationTemplate: the infill \"{infill}\" has no placeholder '{Placeholder}' (each '{Placeholder}' is one position to generate).", nameof(infill));
        }
        var parts = infill.Split(Placeholder);
        var text = new StringBuilder();
        for (int i = 0; i < parts.Length; i++)
        {
            text.Append(normalize ? Normalized(parts[i], i == 0, i == parts.Length - 1) : parts[i]);
            if (i < parts.Length - 1)
            {
                text.Append(Placeholder);
            }
        }
        if (text.Length > length)
        {
            throw new ArgumentException(
                $"GenerationTemplate: the infill is {text.Length} positions (\"{text}\") but the sequence only {length}.", nameof(infill));
        }
        var tokens = new int[length];
        Array.Fill(tokens, vocabulary.Size);
        int start = 0;
        for (int i = 0; i <= text.Length; i++)
        {
            if (i == text.Length || text[i] == Placeholder)
            {
                Encode(vocabulary, text.ToString(start, i - start), nameof(infill)).CopyTo(tokens, start);
                start = i + 1;
            }
        }
        return FromTokens(tokens, vocabulary.Size);
    }

    /// <summary>The templates' ids back to back (count·L, MASK = free); all must share L and K.</summary>
    public static int[] Stack(IReadOnlyList<GenerationTemplate> templates)
    {
        ArgumentNullException.ThrowIfNull(templates);
        if (templates.Count == 0)
        {
            throw new ArgumentException("GenerationTemplate: no templates.", nameof(templates));
        }
        int length = templates[0].Length, vocabulary = templates[0].Vocabulary;
        var tokens = new int[templates.Count * length];
        for (int b = 0; b < templates.Count; b++)
        {
            var t = templates[b];
            if (t.Length != length || t.Vocabulary != vocabulary)
            {
                throw new ArgumentException(
                    $"GenerationTemplate: template {b} has L = {t.Length}, K = {t.Vocabulary} but template 0 has L = {length}, K = {vocabulary}; a batch shares both.", nameof(templates));
            }
            t.Tokens.CopyTo(tokens.AsSpan(b * length));
        }
        return tokens;
    }

    /// <summary>Checks that the template fits a request of <paramref name="length"/> positions over K = <paramref name="vocabulary"/>.</summary>
    public void CheckFits(int length, int vocabulary, string owner)
    {
        if (Length != length)
        {
            throw new ArgumentException($"{owner}: the template has {Length} positions but the request is for sequences of length {length}.");
        }
        if (Vocabulary != vocabulary)
        {
            throw new ArgumentException($"{owner}: the template is over K = {Vocabulary} tokens but the model's vocabulary has K = {vocabulary}.");
        }
    }

    /// <summary>The template as text, free positions shown as <see cref="Placeholder"/>.</summary>
    public string Describe(CharVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        return vocabulary.Decode(_tokens, Placeholder);
    }

    private static void CheckShape(int length, int vocabulary)
    {
        if (length < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "GenerationTemplate: a template needs at least one position.");
        }
        if (vocabulary < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(vocabulary), vocabulary, "GenerationTemplate: the vocabulary needs K ≥ 1 real tokens.");
        }
    }

    /// <summary>A literal run normalised, with one space kept where it begins (not first) or ends (not last) in whitespace.</summary>
    private static string Normalized(string raw, bool first, bool last)
    {
        string text = TextNormalizer.Normalize(raw).Text;
        bool leading = !first && raw.Length > 0 && char.IsWhiteSpace(raw[0]);
        bool trailing = !last && raw.Length > 0 && char.IsWhiteSpace(raw[^1]);
        if (text.Length == 0)
        {
            return leading || trailing ? " " : "";
        }
        return (leading ? " " : "") + text + (trailing ? " " : "");
    }

    private static int[] Encode(CharVocabulary vocabulary, string text, string parameter)
    {
        try
        {
            return vocabulary.Encode(text);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"GenerationTemplate: {e.Message.Split(" (Parameter")[0]}", parameter, e);
        }
    }
}
