using System.Globalization;
using Lddm.Training.Evaluation;
using Xunit;

namespace Lddm.Training.Tests.Evaluation;

public sealed class SweepTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-sweep-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Random rows over two models (one name needing CSV quoting), three N and two metrics; one NaN SE.</summary>
    private static List<SweepRow> RandomRows(int seed)
    {
        var rng = new Random(seed);
        var rows = new List<SweepRow>();
        foreach (string model in new[] { "mdlm", "seq, \"w=0.5\"" })
        {
            foreach (int n in new[] { 2, 8, 32 })
            {
                rows.Add(new SweepRow(model, n, n + (model == "mdlm" ? 0 : 1), "nll bits", rng.NextDouble() * 40, rng.NextDouble()));
                rows.Add(new SweepRow(model, n, n, "kl/nats", rng.NextDouble() * 1e-3, n == 8 ? double.NaN : rng.NextDouble() * 1e-4));
            }
        }
        return rows;
    }

    [Fact]
    public void Write_produces_csv_that_parses_back_markdown_with_every_value_and_png_plots()
    {
        int seed = Environment.TickCount;
        var rows = RandomRows(seed);
        string prefix = Path.Combine(_dir, "sub", "sweep");
        SweepReport.Write(prefix, "sawtooth sweep", rows, [("nll bits", 12.5)]);
        var plots = Lddm.Plots.SweepPlots.Write(prefix, "sawtooth sweep", rows, [("nll bits", 12.5)]);
        Assert.Equal([prefix + ".png", prefix + "-nll_bits.png", prefix + "-kl_nats.png"], plots);

        Assert.Equal(rows, SweepReport.ReadCsv(prefix + ".csv"));

        string md = File.ReadAllText(prefix + ".md");
        foreach (var r in rows)
        {
            string mean = r.Mean.ToString("G6", CultureInfo.InvariantCulture);
            Assert.True(md.Contains(mean, StringComparison.Ordinal), $"seed {seed}: markdown lacks mean {mean} of {r}");
            if (double.IsFinite(r.StandardError))
            {
                Assert.Contains($"{mean} ± {r.StandardError.ToString("G6", CultureInfo.InvariantCulture)}", md);
            }
        }
        Assert.Contains("## nll bits", md);
        Assert.Contains("## kl/nats", md);
        Assert.Contains("12.5", md);

        foreach (string png in new[] { prefix + ".png", prefix + "-nll_bits.png", prefix + "-kl_nats.png" })
        {
            var bytes = File.ReadAllBytes(png);
            Assert.True(bytes.Length > 5_000, $"{png} is only {bytes.Length} bytes");
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        }
    }

    [Fact]
    public void Write_rejects_empty_and_duplicate_rows_naming_the_problem()
    {
        string prefix = Path.Combine(_dir, "bad");
        var empty = Assert.Throws<ArgumentException>(() => SweepReport.Write(prefix, "t", []));
        Assert.Contains("at least one row", empty.Message);
        var row = new SweepRow("mdlm", 4, 4, "nll", 1, 0.1);
        var dup = Assert.Throws<ArgumentException>(() => SweepReport.Write(prefix, "t", [row, row with { Mean = 2 }]));
        Assert.Contains("(mdlm, 4, nll)", dup.Message);
        Assert.False(File.Exists(prefix + ".csv"));
    }
}
