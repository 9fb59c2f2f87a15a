using System.Globalization;
using Lddm.Training.Evaluation;
using ScottPlot;

namespace Lddm.Plots;

/// <summary>
/// The PNG plots of a sampling-steps sweep (headless, SkiaSharp): <c>PREFIX.png</c> (the first metric vs N on a log2
/// axis, one line per model with error bars, dashed reference lines) and <c>PREFIX-&lt;metric&gt;.png</c> for every
/// metric. The CSV and Markdown tables come from <see cref="SweepReport"/> in Lddm.Training; this package is optional
/// and is the only one that brings native graphics libraries.
/// </summary>
public static class SweepPlots
{
    /// <summary>Writes every plot of <paramref name="rows"/>; returns the files written.</summary>
    public static IReadOnlyList<string> Write(string prefix, string title, IReadOnlyList<SweepRow> rows,
                                              IReadOnlyList<(string Metric, double Value)>? referenceLines = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        SweepReport.Validate(rows);
        referenceLines ??= [];
        string? dir = Path.GetDirectoryName(Path.GetFullPath(prefix));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }
        var metrics = SweepReport.Metrics(rows);
        var written = new List<string> { prefix + ".png" };
        Plot(written[0], title, metrics[0], rows, referenceLines);
        foreach (string metric in metrics)
        {
            string path = $"{prefix}-{SweepReport.FileSafe(metric)}.png";
            Plot(path, title, metric, rows, referenceLines);
            written.Add(path);
        }
        return written;
    }

    private static void Plot(string path, string title, string metric, IReadOnlyList<SweepRow> rows,
                             IReadOnlyList<(string Metric, double Value)> references)
    {
        var plot = new Plot();
        var ofMetric = rows.Where(r => r.Metric == metric).ToList();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (int steps in ofMetric.Select(r => r.Steps).Distinct().Order())
        {
            ticks.AddMajor(Math.Log2(steps), steps.ToString(CultureInfo.InvariantCulture));
        }
        var palette = new ScottPlot.Palettes.Category10();
        int i = 0;
        foreach (string model in SweepReport.Models(ofMetric))
        {
            var points = ofMetric.Where(r => r.Model == model && double.IsFinite(r.Mean)).OrderBy(r => r.Steps).ToList();
            if (points.Count == 0) continue;
            double[] xs = [.. points.Select(r => Math.Log2(r.Steps))];
            double[] ys = [.. points.Select(r => r.Mean)];
            double[] es = [.. points.Select(r => double.IsFinite(r.StandardError) ? r.StandardError : 0)];
            var color = palette.GetColor(i++);
            var line = plot.Add.Scatter(xs, ys, color);
            line.LegendText = model;
            var bars = plot.Add.ErrorBar(xs, ys, es);
            bars.Color = color;
        }
        foreach (var (_, value) in references.Where(x => x.Metric == metric && double.IsFinite(x.Value)))
        {
            var h = plot.Add.HorizontalLine(value);
            h.LinePattern = LinePattern.Dashed;
            h.Color = Colors.Gray;
            h.LegendText = "reference (real data)";
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Title(title);
        plot.XLabel("sampling steps N (log2)");
        plot.YLabel(metric);
        plot.ShowLegend();
        plot.SavePng(path, 900, 560);
    }

}
