using System.Diagnostics;
using System.Globalization;
using Lddm.Models;
using Lddm.Training.Engine;
using Lddm.Training.Evaluation;

namespace Lddm.Training.Evaluation;

/// <summary>One generator of a sweep: a label for the report, the model (EMA weights already swapped in) and its sequence length.</summary>
public sealed record SweepCandidate(string Label, ITrainableModel Model, int Length);

/// <summary>A sweep's points and its reference values (the same metrics on real validation text).</summary>
public sealed record SweepResult(IReadOnlyList<SweepRow> Rows, IReadOnlyList<(string Metric, double Value)> ReferenceLines);

/// <summary>
/// The unconditional-generation sweep of digest §7.2: for every generator and every step count N, draw K sequences,
/// score them under the AR judge (generative perplexity over all tokens) and by unigram entropy (mean ± se over
/// sequences); the same two metrics on K real validation sequences are the reference lines.
/// </summary>
public static class GenerationSweep
{
    /// <summary>Metric name of the generative perplexity rows.</summary>
    public const string GenPpl = "gen_ppl";

    /// <summary>Metric name of the unigram entropy rows (nats).</summary>
    public const string Entropy = "entropy";

    /// <param name="judge">The AR judge (BOS = K); its vocabulary must be the generators'.</param>
    /// <param name="real">Real validation sequences for the reference lines (may be empty: no reference lines).</param>
    /// <param name="batch">Sequences generated and scored per call.</param>
    /// <param name="log">One line per point.</param>
    /// <param name="progress">Where the in-place sampling progress goes (a terminal), or null for none (a log file).</param>
    public static SweepResult Run(CausalTransformer judge, IReadOnlyList<SweepCandidate> candidates, IReadOnlyList<int> steps,
        int count, int batch, ulong seed, float temperature, IReadOnlyList<int[]> real, TextWriter log, TextWriter? progress = null)
    {
        ArgumentNullException.ThrowIfNull(judge);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(steps);
        ArgumentNullException.ThrowIfNull(real);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        if (candidates.Count == 0 || steps.Count == 0 || steps.Any(n => n < 1))
        {
            throw new ArgumentException($"GenerationSweep: need ≥ 1 generator and step counts ≥ 1, got {candidates.Count} generators and steps [{string.Join(",", steps)}].");
        }
        int k = judge.Config.Vocab - 1;
        foreach (var c in candidates)
        {
            if (c.Length > judge.Config.MaxLength)
            {
                throw new ArgumentException(
                    $"GenerationSweep: '{c.Label}' generates {c.Length} tokens but the judge reads at most {judge.Config.MaxLength}.");
            }
        }
        var rows = new List<SweepRow>();
        foreach (var c in candidates)
        {
            foreach (int n in steps)
            {
                var clock = Stopwatch.StartNew();
                var tokens = new int[count * c.Length];
                int nfe = 0;
                for (int start = 0, chunk = 0; start < count; start += batch, chunk++)
                {
                    int m = Math.Min(batch, count - start);
                    int done = start;
                    var report = progress is null ? null : new SyncProgress(i => progress.Write(string.Create(CultureInfo.InvariantCulture,
                        $"\r  {c.Label} N = {n}: sequences {done + 1}-{done + m} of {count}, step {i}   ")));
                    var samples = c.Model.Generate(m, c.Length, n, seed + (ulong)chunk * 0x9E3779B97F4A7C15UL, temperature, report);
                    samples.Tokens.CopyTo(tokens, start * c.Length);
                    nfe = samples.Nfe;
                }
                if (tokens.Any(t => (uint)t >= (uint)k))
                {
                    throw new InvalidOperationException($"GenerationSweep: '{c.Label}' produced a token outside [0, {k}) (the judge's vocabulary).");
                }
                double seconds = clock.Elapsed.TotalSeconds;
                var ppl = GenerativePerplexity.Evaluate(judge, tokens, count, c.Length, batch);
                var h = UnigramEntropy.Evaluate(tokens, count, c.Length);
                rows.Add(new SweepRow(c.Label, n, nfe, GenPpl, ppl.Perplexity, ppl.StandardError));
                rows.Add(new SweepRow(c.Label, n, nfe, Entropy, h.Mean, h.StandardError));
                progress?.Write('\r' + new string(' ', 70) + '\r');
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{c.Label,-16} N = {n,4} (NFE {nfe,4}): gen-PPL {ppl.Perplexity,9:F3} ± {ppl.StandardError:F3}  entropy {h.Mean:F4} ± {h.StandardError:F4}  ({count * c.Length / Math.Max(seconds, 1e-9):F0} tokens/s)"));
            }
        }
        var references = new List<(string, double)>();
        if (real.Count > 0)
        {
            int length = real[0].Length;
            if (real.Any(s => s.Length != length) || length > judge.Config.MaxLength)
            {
                throw new ArgumentException($"GenerationSweep: real sequences must share one length ≤ {judge.Config.MaxLength}.", nameof(real));
            }
            var tokens = real.SelectMany(s => s).ToArray();
            var ppl = GenerativePerplexity.Evaluate(judge, tokens, real.Count, length, batch);
            var h = UnigramEntropy.Evaluate(tokens, real.Count, length);
            references.Add((GenPpl, ppl.Perplexity));
            references.Add((Entropy, h.Mean));
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{"real data",-16} ({real.Count} validation sequences): gen-PPL {ppl.Perplexity:F3} ± {ppl.StandardError:F3}  entropy {h.Mean:F4} ± {h.StandardError:F4}"));
        }
        return new SweepResult(rows, references);
    }

    /// <summary>An IProgress that reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
