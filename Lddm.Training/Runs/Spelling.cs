namespace Lddm.Training.Runs;

/// <summary>"Did you mean …?" for a mistyped name (a config key, a command-line verb or option).</summary>
public static class Spelling
{
    /// <summary>
    /// The candidate nearest to <paramref name="typo"/> by edit distance (insertions, deletions, substitutions), or null
    /// when none is within a third of its length (at least 1 edit).
    /// </summary>
    public static string? Nearest(IEnumerable<string> candidates, string typo)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(typo);
        int limit = Math.Max(1, typo.Length / 3);
        return candidates.Select(c => (Candidate: c, Distance: Distance(c, typo)))
            .Where(c => c.Distance <= limit)
            .OrderBy(c => c.Distance).ThenBy(c => c.Candidate, StringComparer.Ordinal)
            .Select(c => c.Candidate).FirstOrDefault();
    }

    /// <summary>
    /// The edit distance between <paramref name="a"/> and <paramref name="b"/> counting insertions, deletions,
    /// substitutions and swaps of two neighbours ("trian" is one edit from "train"): optimal string alignment.
    /// </summary>
    public static int Distance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }
        return d[a.Length, b.Length];
    }
}
