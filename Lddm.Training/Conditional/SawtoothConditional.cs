using System.Diagnostics;
using Lddm.Training.Data;
using Lddm.Training.Evaluation;

namespace Lddm.Training.Conditional;

/// <summary>One sawtooth point: the completion's exact conditional NLL under the true model (bits per sequence).</summary>
public sealed record SawtoothConditionalRow(string Label, int Block, int Steps, double Nfe, MeanWithError CompletionNllBits, double Seconds);

/// <summary>
/// Conditional generation on the binary sawtooth (issue 13): the first <c>kept</c> bits of a real sequence are fixed (they
/// pin down the saw's shift), the rest generated, and the completion scored by its exact conditional likelihood under the
/// true model, −log₂ p(x_{≥m} | x_{&lt;m}) = −log₂ p(x) + log₂ p(x_{&lt;m}). log p(x) is <see cref="BinarySawtooth.LogLikelihood"/>
/// (exact); log p(x_{&lt;m}) = log ∫₀¹ Π_{i&lt;m} pᵢ(s)^{xᵢ}(1 − pᵢ(s))^{1−xᵢ} ds by a midpoint rule on
/// <see cref="PrefixNodes"/> points with log-sum-exp (the integrand is smooth between kinks and its peak spans ~10⁻² in s,
/// so the rule is good to ~10⁻⁶ relative). The real completions' value is the conditional entropy the samples should match.
/// </summary>
public static class SawtoothConditional
{
    public const int PrefixNodes = 20000;

    /// <summary>log p(x_{&lt;m}) in nats for the m = |<paramref name="prefix"/>| first bits.</summary>
    public static double LogPrefixLikelihood(BinarySawtooth saw, ReadOnlySpan<int> prefix)
    {
        ArgumentNullException.ThrowIfNull(saw);
        double max = double.NegativeInfinity, sum = 0, h = 1.0 / PrefixNodes;
        for (int j = 0; j < PrefixNodes; j++)
        {
            double term = Math.Log(h) + saw.LogConditional(prefix, (j + 0.5) * h);
            if (term > max)
            {
                sum = sum * Math.Exp(max - term) + 1;
                max = term;
            }
            else
            {
                sum += Math.Exp(term - max);
            }
        }
        return max + Math.Log(sum);
    }

    /// <summary>−log₂ p(x_{≥m} | x_{&lt;m}) of one full sequence.</summary>
    public static double CompletionNllBits(BinarySawtooth saw, ReadOnlySpan<int> x, int kept) =>
        (LogPrefixLikelihood(saw, x[..kept]) - saw.LogLikelihood(x)) / Math.Log(2);

    /// <summary>The real completions' row, then each candidate at each N (first <paramref name="kept"/> bits fixed).</summary>
    public static List<SawtoothConditionalRow> Run(BinarySawtooth saw, IReadOnlyList<ConditionalCandidate> candidates, IReadOnlyList<int> steps,
        IReadOnlyList<int[]> real, int kept, ulong seed, int batch, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(saw);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(steps);
        ArgumentNullException.ThrowIfNull(real);
        var prefixLog = real.Select(r => LogPrefixLikelihood(saw, r.AsSpan(0, kept))).ToArray();
        double Bits(int[] x, int s) => (prefixLog[s] - saw.LogLikelihood(x)) / Math.Log(2);
        var rows = new List<SawtoothConditionalRow> { new("real", 0, 0, 0, MeanWithError.Of([.. real.Select((x, s) => Bits(x, s))]), 0) };
        log?.WriteLine(Describe(rows[0]));
        var templates = real.Select(r => GenerationTemplate.FromPrefix(r.AsSpan(0, kept), r.Length, BinarySawtooth.VocabularySize)).ToArray();
        var stacked = GenerationTemplate.Stack(templates);
        foreach (var candidate in candidates)
        {
            int least = BlockPlan.ActiveBlocks(templates.Length, real[0].Length, BinarySawtooth.VocabularySize, stacked, candidate.Block);
            foreach (int n in steps)
            {
                if (n < least)
                {
                    log?.WriteLine($"{candidate.Label}, B = {candidate.Block}: N = {n} < {least} blocks to generate, skipped");
                    continue;
                }
                var clock = Stopwatch.StartNew();
                var nll = new List<double>(real.Count);
                long nfe = 0;
                int length = real[0].Length;
                for (int start = 0; start < templates.Length; start += batch)
                {
                    var chunk = templates[start..Math.Min(templates.Length, start + batch)];
                    var run = candidate.Model.Generate(chunk, n, seed + (ulong)start, candidate.Block);
                    for (int b = 0; b < chunk.Length; b++)
                    {
                        nll.Add(Bits(run.Tokens[(b * length)..((b + 1) * length)], start + b));
                    }
                    nfe += run.Nfe;
                }
                var row = new SawtoothConditionalRow(candidate.Label, candidate.Block, n, nfe / Math.Ceiling(templates.Length / (double)batch),
                    MeanWithError.Of(nll), clock.Elapsed.TotalSeconds);
                rows.Add(row);
                log?.WriteLine(Describe(row));
            }
        }
        return rows;
    }

    public static string Describe(SawtoothConditionalRow r) => FormattableString.Invariant(
        $"sawtooth {r.Label,-20} B={(r.Block == 0 ? "L" : r.Block.ToString(System.Globalization.CultureInfo.InvariantCulture)),-3} N={r.Steps,-3} NFE {r.Nfe,5:F1}  completion NLL {r.CompletionNllBits.Mean:F2} ± {r.CompletionNllBits.StandardError:F2} bits  ({r.Seconds:F0} s)");

    public static string Markdown(IReadOnlyList<SawtoothConditionalRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var md = new System.Text.StringBuilder();
        md.AppendLine("| model | B | N | NFE | completion NLL (bits/sequence) |");
        md.AppendLine("|---|---|---|---|---|");
        foreach (var r in rows)
        {
            md.AppendLine(FormattableString.Invariant(
                $"| {r.Label} | {(r.Block == 0 ? "L" : r.Block.ToString(System.Globalization.CultureInfo.InvariantCulture))} | {(r.Steps == 0 ? "–" : r.Steps.ToString(System.Globalization.CultureInfo.InvariantCulture))} | {r.Nfe:F1} | {r.CompletionNllBits.Mean:F2} ± {r.CompletionNllBits.StandardError:F2} |"));
        }
        return md.ToString();
    }
}
