using System.Text.Json.Nodes;

namespace Lddm.Training.Checkpoints;

/// <summary>Lists the fields where two JSON configs differ, by dotted path, with both values.</summary>
public static class ConfigDiff
{
    public static IReadOnlyList<string> Between(JsonNode? saved, JsonNode? expected)
    {
        var diffs = new List<string>();
        Walk("", saved, expected, diffs);
        return diffs;
    }

    private static void Walk(string path, JsonNode? a, JsonNode? b, List<string> diffs)
    {
        if (a is JsonObject oa && b is JsonObject ob)
        {
            foreach (var key in oa.Select(kv => kv.Key).Union(ob.Select(kv => kv.Key)).OrderBy(k => k, StringComparer.Ordinal))
            {
                Walk(path.Length == 0 ? key : $"{path}.{key}", oa[key], ob[key], diffs);
            }
            return;
        }
        string sa = a?.ToJsonString() ?? "(absent)", sb = b?.ToJsonString() ?? "(absent)";
        if (sa != sb)
        {
            diffs.Add($"{path}: checkpoint has {sa}, this run has {sb}");
        }
    }
}
