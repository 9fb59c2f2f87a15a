namespace Lddm.Training.Data.Text;

/// <summary>
/// Character-level vocabulary: the K distinct characters of the training split in ordinal order get ids 0..K−1 and
/// MASK gets id K (digest §1.1). Characters not in the vocabulary are rejected, never mapped silently.
/// </summary>
public sealed class CharVocabulary
{
    private readonly char[] _characters;
    private readonly Dictionary<char, int> _ids;

    /// <summary>A vocabulary of the given distinct characters, sorted ordinally.</summary>
    public CharVocabulary(IEnumerable<char> characters)
    {
        ArgumentNullException.ThrowIfNull(characters);
        _characters = [.. characters.Order()];
        if (_characters.Length == 0)
        {
            throw new ArgumentException("A character vocabulary needs at least one character.", nameof(characters));
        }
        _ids = new Dictionary<char, int>(_characters.Length);
        for (int i = 0; i < _characters.Length; i++)
        {
            if (!_ids.TryAdd(_characters[i], i))
            {
                throw new ArgumentException($"Character {Show(_characters[i])} appears twice in the vocabulary.", nameof(characters));
            }
        }
    }

    /// <summary>The distinct characters of <paramref name="trainingText"/>.</summary>
    public static CharVocabulary FromText(string trainingText)
    {
        ArgumentNullException.ThrowIfNull(trainingText);
        return new CharVocabulary(new HashSet<char>(trainingText));
    }

    /// <summary>K, the number of real tokens.</summary>
    public int Size => _characters.Length;

    /// <summary>The MASK id, K.</summary>
    public int MaskId => _characters.Length;

    /// <summary>The characters by id.</summary>
    public IReadOnlyList<char> Characters => _characters;

    /// <summary>Ids of every character of <paramref name="text"/>.</summary>
    public int[] Encode(ReadOnlySpan<char> text)
    {
        var ids = new int[text.Length];
        Encode(text, ids);
        return ids;
    }

    /// <summary>Writes the id of text[i] to ids[i]; throws naming the first unknown character and its position.</summary>
    public void Encode(ReadOnlySpan<char> text, Span<int> ids)
    {
        if (ids.Length != text.Length)
        {
            throw new ArgumentException($"Destination has {ids.Length} slots for {text.Length} characters.", nameof(ids));
        }
        for (int i = 0; i < text.Length; i++)
        {
            if (!_ids.TryGetValue(text[i], out int id))
            {
                throw new ArgumentException(
                    $"Character {Show(text[i])} at position {i} is not in the vocabulary of {Size} characters " +
                    $"(\"{new string(_characters)}\", built from the training split); normalise the text with TextNormalizer first.",
                    nameof(text));
            }
            ids[i] = id;
        }
    }

    /// <summary>The text of <paramref name="ids"/>; MASK is shown as <paramref name="maskCharacter"/>.</summary>
    public string Decode(ReadOnlySpan<int> ids, char maskCharacter = '_')
    {
        var chars = new char[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if (id == MaskId)
            {
                chars[i] = maskCharacter;
            }
            else if ((uint)id < (uint)Size)
            {
                chars[i] = _characters[id];
            }
            else
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} at position {i} is outside 0..{MaskId} (K = {Size} plus MASK).");
            }
        }
        return new string(chars);
    }

    private static string Show(char c) => char.IsControl(c) || char.IsWhiteSpace(c) && c != ' '
        ? FormattableString.Invariant($"U+{(int)c:X4}")
        : FormattableString.Invariant($"'{c}' (U+{(int)c:X4})");
}
