namespace Lddm.Cli;

internal sealed class UsageException(string message) : Exception(message);

/// <summary><c>--name value</c> and <c>--flag</c> options; every option must be consumed or it is an error.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _repeated = new(StringComparer.Ordinal);

    /// <summary>Options that may be given several times (e.g. --set key=value).</summary>
    private static readonly HashSet<string> s_repeatable = new(StringComparer.Ordinal) { "set" };
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public static Options Parse(ReadOnlySpan<string> args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length == 2)
            {
                throw new UsageException($"unexpected argument '{a}'");
            }
            string name = a[2..];
            string? value = null;
            int eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            if (s_repeatable.Contains(name))
            {
                if (value is null)
                {
                    throw new UsageException($"--{name} needs a value");
                }
                if (!o._repeated.TryGetValue(name, out var list))
                {
                    o._repeated[name] = list = new List<string>();
                }
                list.Add(value);
                continue;
            }
            if (!o._values.TryAdd(name, value))
            {
                throw new UsageException($"option --{name} given twice");
            }
        }
        return o;
    }

    public bool Flag(string name)
    {
        if (!_values.TryGetValue(name, out var v))
        {
            return false;
        }
        _used.Add(name);
        if (v is not null)
        {
            throw new UsageException($"--{name} takes no value but got '{v}'");
        }
        return true;
    }

    public string? Value(string name)
    {
        if (!_values.TryGetValue(name, out var v))
        {
            return null;
        }
        _used.Add(name);
        return v ?? throw new UsageException($"--{name} needs a value");
    }

    /// <summary>Every value of a repeatable option, in order.</summary>
    public IReadOnlyList<string> Values(string name)
    {
        _used.Add(name);
        return _repeated.TryGetValue(name, out var list) ? list : [];
    }

    public int? Int(string name)
    {
        string? v = Value(name);
        if (v is null)
        {
            return null;
        }
        return int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n)
            ? n : throw new UsageException($"--{name} expects an integer but got '{v}'");
    }

    public void RejectUnused()
    {
        var unknown = _values.Keys.Concat(_repeated.Keys).Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new UsageException($"unknown option(s): {string.Join(", ", unknown.Select(k => "--" + k))}");
        }
    }
}
