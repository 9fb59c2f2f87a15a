using System.Text.Json.Nodes;

namespace Lddm.Training.Checkpoints;

/// <summary>Lists the fields where two JSON configs differ, by dotted path, with both values.</summary>
public static class ConfigDiff
{
    /// <param name="defaults">When given, a top-level key the saved config lacks (a checkpoint older than the key) counts
    /// as its default value, so adding a config key does not orphan every earlier checkpoint.</param>
    public static IReadOnlyList<string> Between(JsonNode? saved, JsonNode? expected, JsonObject? defaults = null)
    {
        var diffs = new List<string>();
        if (defaults is not null && saved is JsonObject s && expected is JsonObject)
        {
            saved = s.DeepClone();
            foreach (var (key, value) in defaults)
            {
                if (!saved.AsObject().ContainsKey(key))
                {
                    saved[key] = value?.DeepClone();
                }
            }
        }
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
