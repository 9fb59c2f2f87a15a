using System.Globalization;
using System.Text;

namespace Lddm.Training.Evaluation;

/// <summary>One measured point of a sampling-steps sweep: <paramref name="Metric"/> of <paramref name="Model"/> sampled
/// with N = <paramref name="Steps"/> steps (<paramref name="Nfe"/> network calls), its mean and standard error
/// (NaN where undefined).</summary>
public sealed record SweepRow(string Model, int Steps, int Nfe, string Metric, double Mean, double StandardError);

/// <summary>Writes a sweep as <c>PREFIX.csv</c> (one row per point) and <c>PREFIX.md</c> (one table per metric: rows = N,
/// columns = models, "mean ± se"). The PNG plots are drawn by the optional Lddm.Plots package (<c>SweepPlots</c>), so
/// this library carries no native graphics dependency.</summary>
public static class SweepReport
{
    public const string CsvHeader = "model,steps,nfe,metric,mean,se";

    public static void Write(string prefix, string title, IReadOnlyList<SweepRow> rows,
                             IReadOnlyList<(string Metric, double Value)>? referenceLines = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        Validate(rows);
        referenceLines ??= [];
        string? dir = Path.GetDirectoryName(Path.GetFullPath(prefix));
        if (dir is not null) Directory.CreateDirectory(dir);
        File.WriteAllText(prefix + ".csv", Csv(rows));
        File.WriteAllText(prefix + ".md", Markdown(title, rows, referenceLines));
    }

    /// <summary>Reads back a CSV written by <see cref="Write"/> (RFC 4180 quoting, invariant culture).</summary>
    public static IReadOnlyList<SweepRow> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != CsvHeader)
        {
            throw new FormatException($"{path}: expected the header '{CsvHeader}', got '{(lines.Length == 0 ? "" : lines[0])}'.");
        }
        var rows = new List<SweepRow>();
        foreach (string line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var f = SplitCsv(line);
            if (f.Count != 6) throw new FormatException($"{path}: expected 6 fields, got {f.Count} in '{line}'.");
            var c = CultureInfo.InvariantCulture;
            rows.Add(new SweepRow(f[0], int.Parse(f[1], c), int.Parse(f[2], c), f[3], double.Parse(f[4], c), double.Parse(f[5], c)));
        }
        return rows;
    }

    /// <summary>Throws one clear error for an empty sweep or a duplicate (model, N, metric) point.</summary>
    public static void Validate(IReadOnlyList<SweepRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0) throw new ArgumentException("A sweep report needs at least one row, got 0.", nameof(rows));
        foreach (var r in rows)
        {
            if (string.IsNullOrEmpty(r.Model) || string.IsNullOrEmpty(r.Metric))
            {
                throw new ArgumentException($"Every sweep row needs a model and a metric name, got {r}.", nameof(rows));
            }
            if (r.Steps < 1) throw new ArgumentException($"Sweep row steps must be ≥ 1, got {r.Steps} in {r}.", nameof(rows));
        }
        var dup = rows.GroupBy(r => (r.Model, r.Steps, r.Metric)).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new ArgumentException($"Sweep rows must be unique per (model, steps, metric); {dup.Key} appears {dup.Count()} times.", nameof(rows));
        }
    }

    /// <summary>The metrics of <paramref name="rows"/> in order of first appearance.</summary>
    public static List<string> Metrics(IReadOnlyList<SweepRow> rows) => rows.Select(r => r.Metric).Distinct().ToList();

    /// <summary>The models of <paramref name="rows"/> in order of first appearance.</summary>
    public static List<string> Models(IEnumerable<SweepRow> rows) => rows.Select(r => r.Model).Distinct().ToList();

    private static string Csv(IReadOnlyList<SweepRow> rows)
    {
        var sb = new StringBuilder(CsvHeader).Append('\n');
        foreach (var r in rows)
        {
            sb.Append(Quote(r.Model)).Append(',').Append(Num(r.Steps)).Append(',').Append(Num(r.Nfe)).Append(',')
              .Append(Quote(r.Metric)).Append(',').Append(Exact(r.Mean)).Append(',').Append(Exact(r.StandardError)).Append('\n');
        }
        return sb.ToString();
    }

    private static string Markdown(string title, IReadOnlyList<SweepRow> rows, IReadOnlyList<(string Metric, double Value)> references)
    {
        var sb = new StringBuilder($"# {title}\n");
        foreach (string metric in Metrics(rows))
        {
            var ofMetric = rows.Where(r => r.Metric == metric).ToList();
            var models = Models(ofMetric);
            sb.Append($"\n## {metric}\n\n| N | {string.Join(" | ", models.Select(Cell))} |\n");
            sb.Append($"|---:|{string.Concat(models.Select(_ => "---:|"))}\n");
            foreach (int steps in ofMetric.Select(r => r.Steps).Distinct().Order())
            {
                var cells = models.Select(m => ofMetric.FirstOrDefault(r => r.Model == m && r.Steps == steps) is { } r
                    ? MeanSe(r.Mean, r.StandardError) : "—");
                sb.Append($"| {Num(steps)} | {string.Join(" | ", cells)} |\n");
            }
            foreach (var (_, value) in references.Where(x => x.Metric == metric))
            {
                sb.Append($"\nReference (real data): {Num(value)}\n");
            }
        }
        return sb.ToString();
    }

    private static string MeanSe(double mean, double se) =>
        double.IsFinite(se) ? $"{Num(mean)} ± {Num(se)}" : Num(mean);

    private static string Num(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static string Exact(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static string Num(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);

    /// <summary>A metric name as a file-name part (letters, digits, - _ . kept; anything else becomes _).</summary>
    public static string FileSafe(string metric) =>
        string.Concat(metric.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));

    private static string Quote(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) < 0 ? s : "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static List<string> SplitCsv(string line)
    {
        var fields = new List<string>();
        var sb = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c != '"') sb.Append(c);
                else if (i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                else quoted = false;
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(sb.ToString()); sb.Clear(); }
            else sb.Append(c);
        }
        fields.Add(sb.ToString());
        return fields;
    }
}
