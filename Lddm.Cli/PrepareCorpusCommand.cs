using System.Globalization;
using Lddm.Training.Data.Text;

namespace Lddm.Cli;

/// <summary><c>lddm prepare-corpus</c>: normalise the fetched State-of-the-Union speeches and split them by year.</summary>
internal static class PrepareCorpusCommand
{
    public static int Run(Options options)
    {
        string raw = options.Value("raw") ?? TextCorpus.SotuRawDirectory;
        string output = options.Value("out") ?? TextCorpus.SotuDirectory;
        options.RejectUnused();
        var prepared = TextCorpus.PrepareSotu(raw, output);
        var s = prepared.Splits;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sotu: train {s.Train.Length:N0}, validation {s.Valid.Length:N0}, test {s.Test.Length:N0} characters in {Path.GetFullPath(output)}"));
        Console.WriteLine(prepared.Report.Describe(10));
        return 0;
    }
}
