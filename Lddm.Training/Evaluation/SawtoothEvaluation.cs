using Lddm.Training.Data;
using Lddm.Training.Engine;

namespace Lddm.Training.Evaluation;

/// <summary>
/// Sample quality on binary sawtooth data, where the true model is known: for samples drawn with N steps, the exact
/// NLL under the true model (bits/sequence), the unigram KL(data ‖ generated) (nats; the data marginal from
/// <see cref="Count"/> real sequences) and the mean per-sequence unigram entropy (nats); beside the NLL, its coverage
/// check (<see cref="SawtoothCoverage"/>): the spread (SD ± SE) of the per-sequence NLL, and χ² and KS p-values of the
/// samples' maximum-likelihood saw phases against the data's law — a sampler that sharpens (few shifts, clean draws)
/// lowers the NLL but shows here. The same metrics of the real sequences are the reference.
/// </summary>
public sealed class SawtoothEvaluation
{
    public const string Nll = "nll_bits_per_seq";
    public const string UnigramKl = "unigram_kl_nats";
    public const string UnigramEntropy = "unigram_entropy_nats";
    public const string NllSd = "nll_sd_bits";
    public const string ShiftChiSquare = "shift_chi2";
    public const string ShiftChiSquareP = "shift_chi2_p";
    public const string ShiftKsP = "shift_ks_p";

    private readonly SawtoothData _data;
    private readonly double[] _dataMarginal;

    /// <param name="count">Sequences per evaluation: real ones for the reference, generated ones for each N.</param>
    /// <param name="seed">Seeds both the real sequences and the samples.</param>
    public SawtoothEvaluation(SawtoothData data, int count, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 2);
        _data = data;
        Count = count;
        Seed = seed;
        var real = new int[count * data.Length];
        data.Generator.Generate(seed ^ 0x5EA1DA7AUL, 0, count, real, new double[count]);
        _dataMarginal = SequenceMetrics.UnigramDistribution(real, data.Vocabulary);
        var nll = NllBits(real);
        RealNll = SequenceMetrics.MeanAndStandardError(nll);
        RealNllSd = Statistics.StandardDeviation(nll);
        RealEntropy = SequenceMetrics.MeanAndStandardError(Entropies(real));
        Coverage = new SawtoothCoverage(data.Generator);
        RealCoverage = Coverage.Test(Coverage.Phases(real));
    }

    /// <summary>The maximum-likelihood saw phase and its coverage test.</summary>
    public SawtoothCoverage Coverage { get; }

    /// <summary>SD of the real sequences' exact NLL, bits/sequence (the spread a generator should match).</summary>
    public Estimate RealNllSd { get; }

    /// <summary>The coverage test on the real sequences (a calibration check: its p-values are U(0, 1) draws).</summary>
    public CoverageTest RealCoverage { get; }

    public int Count { get; }

    public ulong Seed { get; }

    /// <summary>Exact NLL of the real sequences, bits/sequence (≈ the data entropy).</summary>
    public Estimate RealNll { get; }

    /// <summary>Mean per-sequence unigram entropy of the real sequences, nats.</summary>
    public Estimate RealEntropy { get; }

    /// <summary>The reference lines for <see cref="SweepReport.Write"/>.</summary>
    public IReadOnlyList<(string Metric, double Value)> ReferenceLines =>
    [
        (Nll, RealNll.Mean), (UnigramEntropy, RealEntropy.Mean), (NllSd, RealNllSd.Mean),
        (ShiftChiSquare, RealCoverage.ChiSquare), (ShiftChiSquareP, RealCoverage.ChiSquareP), (ShiftKsP, RealCoverage.KsP),
    ];

    /// <summary>
    /// Draws <see cref="Count"/> sequences from <paramref name="model"/> (its current weights: swap the EMA in first)
    /// with N = <paramref name="steps"/>, in batches of <paramref name="batch"/>, and returns one row per metric.
    /// <paramref name="progress"/> hears the number of sequences done after each batch.
    /// </summary>
    public IReadOnlyList<SweepRow> Evaluate(ITrainableModel model, string label, int steps, int batch, IProgress<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        int length = _data.Length;
        var tokens = new int[Count * length];
        long nfe = 0;
        int batches = 0;
        for (int first = 0; first < Count; first += batch, batches++)
        {
            int size = Math.Min(batch, Count - first);
            ulong seed = unchecked(Seed + (ulong)steps * 0x9E3779B97F4A7C15UL + (ulong)batches);
            var run = model.Generate(size, length, steps, seed);
            run.Tokens.CopyTo(tokens, first * length);
            nfe += run.Nfe;
            progress?.Report(first + size);
        }
        int meanNfe = (int)Math.Round((double)nfe / batches);
        return Score(tokens, label, steps, meanNfe);
    }

    /// <summary>The metric rows of <see cref="Count"/> generated sequences (row-major [Count, L]).</summary>
    public IReadOnlyList<SweepRow> Score(int[] tokens, string label, int steps, int nfe)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Length != Count * _data.Length)
        {
            throw new ArgumentException($"Expected {Count}×{_data.Length} tokens but got {tokens.Length}.", nameof(tokens));
        }
        var bits = NllBits(tokens);
        var nll = SequenceMetrics.MeanAndStandardError(bits);
        var sd = Statistics.StandardDeviation(bits);
        var entropy = SequenceMetrics.MeanAndStandardError(Entropies(tokens));
        double kl = SequenceMetrics.KlDivergence(_dataMarginal, SequenceMetrics.UnigramDistribution(tokens, _data.Vocabulary));
        var coverage = Coverage.Test(Coverage.Phases(tokens));
        // KL, χ² and the p-values are one number for the pooled set: no SE.
        return
        [
            new SweepRow(label, steps, nfe, Nll, nll.Mean, nll.StandardError),
            new SweepRow(label, steps, nfe, UnigramKl, kl, double.NaN),
            new SweepRow(label, steps, nfe, UnigramEntropy, entropy.Mean, entropy.StandardError),
            new SweepRow(label, steps, nfe, NllSd, sd.Mean, sd.StandardError),
            new SweepRow(label, steps, nfe, ShiftChiSquare, coverage.ChiSquare, double.NaN),
            new SweepRow(label, steps, nfe, ShiftChiSquareP, coverage.ChiSquareP, double.NaN),
            new SweepRow(label, steps, nfe, ShiftKsP, coverage.KsP, double.NaN),
        ];
    }

    private double[] NllBits(int[] tokens)
    {
        int length = _data.Length, n = tokens.Length / length;
        var nll = new double[n];
        Parallel.For(0, n, i => nll[i] = -_data.Generator.LogLikelihood(tokens.AsSpan(i * length, length)) / Math.Log(2));
        return nll;
    }

    private double[] Entropies(int[] tokens)
    {
        int length = _data.Length;
        return Enumerable.Range(0, tokens.Length / length)
            .Select(i => SequenceMetrics.UnigramEntropy(tokens.AsSpan(i * length, length), _data.Vocabulary)).ToArray();
    }
}
