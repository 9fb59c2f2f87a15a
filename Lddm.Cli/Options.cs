using System.Globalization;

namespace Lddm.Cli;

internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The options of one verb as its body reads them: <c>--name value</c> values, flags and repeated values, filled by
/// <see cref="LddmCommandLine"/> from System.CommandLine's parse after it has checked every value (numbers in the
/// invariant culture, ranges, choices), with the defaults its help shows. Every value the parser accepted must be read
/// by the verb; one that is not is a bug (the parser offers an option the verb ignores).
/// </summary>
internal sealed class Options
{
    private readonly Dictionary<string, string?> _values;
    private readonly Dictionary<string, IReadOnlyList<string>> _repeated;
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public Options(Dictionary<string, string?> values, Dictionary<string, IReadOnlyList<string>> repeated)
    {
        _values = values;
        _repeated = repeated;
    }

    /// <summary>An empty set of options (a verb given nothing).</summary>
    public static Options None => new([], []);

    public bool Flag(string name)
    {
        _used.Add(name);
        return _values.ContainsKey(name);
    }

    public string? Value(string name)
    {
        _used.Add(name);
        return _values.GetValueOrDefault(name);
    }

    /// <summary>Every value of a repeatable option, in order.</summary>
    public IReadOnlyList<string> Values(string name)
    {
        _used.Add(name);
        return _repeated.TryGetValue(name, out var list) ? list : [];
    }

    public int? Int(string name) => Value(name) is { } v
        ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n
            : throw new UsageException($"--{name} expects an integer but got '{v}'")
        : null;

    /// <summary>A seed: an integer in 0..2⁶⁴−1.</summary>
    public ulong? ULong(string name) => Value(name) is { } v
        ? ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) ? n
            : throw new UsageException($"--{name} expects an integer in 0..{ulong.MaxValue} but got '{v}'")
        : null;

    /// <summary>Throws (a bug, exit 70) when the parser accepted an option this verb never read.</summary>
    public void RejectUnused()
    {
        var unread = _values.Keys.Concat(_repeated.Keys).Where(k => !_used.Contains(k)).ToList();
        if (unread.Count > 0)
        {
            throw new InvalidOperationException($"the parser accepted {string.Join(", ", unread.Select(k => "--" + k))} but the verb never read it");
        }
    }
}
