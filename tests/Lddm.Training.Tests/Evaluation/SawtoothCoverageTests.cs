using FsCheck.Xunit;
using Lddm.Training.Data;
using Lddm.Training.Evaluation;
using Xunit;

namespace Lddm.Training.Tests.Evaluation;

/// <summary>
/// The sawtooth coverage metric: the maximum-likelihood shift against a float64 brute-force search, the χ² and
/// Kolmogorov tails against independent float64 definitions, the SD's standard error against Monte Carlo, and the
/// metric end to end: uniform on true samples, non-coverage on a one-shift generator, a too-narrow NLL spread on a
/// sharpening one.
/// </summary>
public sealed class SawtoothCoverageTests
{
    private static SawtoothConfig Setting(byte l, byte saws, byte scale) =>
        new(6 + l % 35, 1 + saws % 4, 0.01 + 0.3 * (scale / 255.0));

    [Property(MaxTest = 25)]
    public void The_ml_shift_attains_the_maximum_of_a_fine_float64_grid(byte l, byte saws, byte scale, int seed)
    {
        var config = Setting(l, saws, scale);
        var saw = new BinarySawtooth(config);
        var coverage = new SawtoothCoverage(saw);
        var x = saw.Generate((ulong)seed, 0).Tokens;
        double s = coverage.MaxLikelihoodShift(x);
        double period = 1.0 / config.NumSaws;
        Assert.InRange(s, 0, period);
        Assert.True(s < period);
        // Brute force over one period (log p(x | s) has period 1/saws), then refined around the best grid point.
        const int grid = 20_000;
        double best = double.NegativeInfinity, arg = 0;
        for (int j = 0; j < grid; j++)
        {
            double t = period * j / grid, f = saw.LogConditional(x, t);
            (best, arg) = f > best ? (f, t) : (best, arg);
        }
        for (int j = -2000; j <= 2000; j++)
        {
            double t = arg + period / grid * j / 1000.0;
            t -= Math.Floor(t / period) * period;
            best = Math.Max(best, saw.LogConditional(x, t));
        }
        double got = saw.LogConditional(x, s);
        Assert.True(got >= best - 1e-9, $"{config}: log p(x | ŝ = {s}) = {got} < grid maximum {best} (at {arg})");
        Assert.Equal(got, saw.LogConditional(x, s + period), 1e-9); // the period the phase relies on
    }

    [Property(MaxTest = 60)]
    public void Chi_square_survival_matches_a_float64_integral_of_the_density(byte dofByte, ushort xBits)
    {
        int k = 1 + dofByte % 40;
        double x = 0.05 + 4.0 * k * xBits / 65535.0;
        // ∫_x^∞ t^{k/2−1} e^{−t/2} dt / (2^{k/2} Γ(k/2)) with t = x + u/(1 − u), Simpson on u ∈ [0, 1); Γ by the
        // recurrence from Γ(1) = 1, Γ(½) = √π.
        double gamma = k % 2 == 0 ? 1 : Math.Sqrt(Math.PI);
        for (double a = k % 2 == 0 ? 1 : 0.5; a < k / 2.0 - 1e-9; a += 1)
        {
            gamma *= a;
        }
        double Density(double t) => Math.Exp(((k / 2.0) - 1) * Math.Log(t) - t / 2) / (Math.Pow(2, k / 2.0) * gamma);
        const int n = 200_000;
        double h = 1.0 / n, sum = 0;
        for (int i = 0; i <= n; i++)
        {
            double u = Math.Min(i * h, 1 - 1e-12), t = x + u / (1 - u), w = i == 0 || i == n ? 1 : i % 2 == 1 ? 4 : 2;
            sum += w * Density(t) / ((1 - u) * (1 - u));
        }
        double expected = sum * h / 3;
        Assert.Equal(expected, Statistics.ChiSquareSurvival(x, k), 1e-7);
        if (k % 2 == 0)
        {
            // Even k: Q = e^{−x/2} Σ_{j<k/2} (x/2)^j / j!
            double closed = 0, term = 1;
            for (int j = 0; j < k / 2; j++)
            {
                closed += term;
                term *= x / 2 / (j + 1);
            }
            Assert.Equal(closed * Math.Exp(-x / 2), Statistics.ChiSquareSurvival(x, k), 1e-12);
        }
    }

    [Property(MaxTest = 60)]
    public void Kolmogorov_survival_is_the_alternating_series(ushort bits)
    {
        double lambda = 0.3 + 2.2 * bits / 65535.0;
        double q = 0;
        for (int k = 1; k <= 400; k++)
        {
            q += 2 * (k % 2 == 1 ? 1 : -1) * Math.Exp(-2.0 * k * k * lambda * lambda);
        }
        Assert.Equal(q, Statistics.KolmogorovSurvival(lambda), 1e-10);
    }

    [Fact]
    public void The_sd_and_its_standard_error_match_float64_and_monte_carlo()
    {
        var rng = new Random(Environment.TickCount);
        const int n = 400, reps = 400;
        var sds = new double[reps];
        var ses = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            // Exponential draws: skewed, so the normal-theory σ/√(2n) would be wrong; the delta method is not.
            var v = Enumerable.Range(0, n).Select(_ => -Math.Log(1 - rng.NextDouble()) * 3).ToArray();
            var est = Statistics.StandardDeviation(v);
            double mean = v.Average(), reference = Math.Sqrt(v.Sum(e => (e - mean) * (e - mean)) / (n - 1));
            Assert.Equal(reference, est.Mean, 1e-9);
            (sds[r], ses[r]) = (est.Mean, est.StandardError);
        }
        double mcMean = sds.Average(), mcSd = Math.Sqrt(sds.Sum(s => (s - mcMean) * (s - mcMean)) / (reps - 1));
        Assert.InRange(ses.Average() / mcSd, 0.8, 1.25);
    }

    /// <summary>n sequences, each from p(· | s) with s from <paramref name="shift"/> (row-major).</summary>
    private static int[] Draw(BinarySawtooth saw, int n, Random rng, Func<Random, double> shift, bool sharpen = false)
    {
        int l = saw.Length;
        var tokens = new int[n * l];
        for (int b = 0; b < n; b++)
        {
            double s = shift(rng);
            for (int i = 0; i < l; i++)
            {
                double p = saw.Probability(i, s);
                tokens[b * l + i] = (sharpen ? p > 0.5 : rng.NextDouble() < p) ? 1 : 0;
            }
        }
        return tokens;
    }

    [Theory]
    [InlineData(12, 2, 0.01)]
    [InlineData(12, 3, 0.05)]
    [InlineData(30, 1, 0.1)]
    public void True_samples_have_calibrated_coverage_p_values(int length, int saws, double scale)
    {
        // Under the data every phase cell has mass 1/C exactly: across independent batches the χ² p-values are U(0, 1).
        var saw = new BinarySawtooth(new SawtoothConfig(length, saws, scale));
        var coverage = new SawtoothCoverage(saw);
        var rng = new Random(Environment.TickCount);
        const int batches = 60, n = 200;
        int low = 0, lowKs = 0;
        for (int r = 0; r < batches; r++)
        {
            var t = coverage.Test(coverage.Phases(Draw(saw, n, rng, g => g.NextDouble())));
            Assert.Equal(SawtoothCoverage.Bins(coverage.Cells, n) - 1, t.Dof);
            low += t.ChiSquareP < 0.1 ? 1 : 0;
            lowKs += t.KsP < 0.1 ? 1 : 0;
        }
        // Binomial(60, 0.1): mean 6, SD 2.3; KS at a subset of points is conservative (fewer small p).
        Assert.InRange(low, 0, 16);
        Assert.InRange(lowKs, 0, 16);
        Assert.True(low > 0 || batches < 30, "no χ² p-value below 0.1 in 60 batches: the test has no power or is broken");
    }

    [Fact]
    public void A_one_shift_generator_shows_non_coverage_and_a_sharpening_one_a_narrow_spread()
    {
        var data = new SawtoothData(new SawtoothConfig(32, 2, 0.01));
        var evaluation = new SawtoothEvaluation(data, 1024, (ulong)Environment.TickCount);
        var saw = data.Generator;
        var rng = new Random(Environment.TickCount);
        double Get(IReadOnlyList<SweepRow> rows, string metric) => rows.Single(r => r.Metric == metric).Mean;

        var truth = evaluation.Score(Draw(saw, 1024, rng, g => g.NextDouble()), "true", 1, 1);
        Assert.True(Get(truth, SawtoothEvaluation.ShiftChiSquareP) > 1e-4, $"true samples: χ² p = {Get(truth, SawtoothEvaluation.ShiftChiSquareP)}");
        Assert.True(Get(truth, SawtoothEvaluation.ShiftKsP) > 1e-4);
        var sd = truth.Single(r => r.Metric == SawtoothEvaluation.NllSd);
        Assert.True(Math.Abs(sd.Mean - evaluation.RealNllSd.Mean) < 5 * Math.Sqrt(sd.StandardError * sd.StandardError + evaluation.RealNllSd.StandardError * evaluation.RealNllSd.StandardError),
            $"true samples' NLL SD {sd.Mean} ± {sd.StandardError} vs the data's {evaluation.RealNllSd.Mean}");

        double fixedShift = rng.NextDouble();
        var one = evaluation.Score(Draw(saw, 1024, rng, _ => fixedShift), "one-shift", 1, 1);
        Assert.True(Get(one, SawtoothEvaluation.ShiftChiSquareP) < 1e-12, $"one shift: χ² p = {Get(one, SawtoothEvaluation.ShiftChiSquareP)}");
        Assert.True(Get(one, SawtoothEvaluation.ShiftKsP) < 1e-6);
        Assert.True(Get(one, SawtoothEvaluation.ShiftChiSquare) > 10 * Get(truth, SawtoothEvaluation.ShiftChiSquare));

        // Sharpening: every shift, but each token the likelier one: covered phases, far lower and narrower NLL.
        var sharp = evaluation.Score(Draw(saw, 1024, rng, g => g.NextDouble(), sharpen: true), "sharp", 1, 1);
        var sharpSd = sharp.Single(r => r.Metric == SawtoothEvaluation.NllSd);
        Assert.True(Get(sharp, SawtoothEvaluation.Nll) < evaluation.RealNll.Mean, "a sharpened sampler scores a lower NLL than the data");
        Assert.True(sharpSd.Mean < evaluation.RealNllSd.Mean - 10 * (sharpSd.StandardError + evaluation.RealNllSd.StandardError),
            $"sharpened NLL SD {sharpSd.Mean} ± {sharpSd.StandardError} vs the data's {evaluation.RealNllSd.Mean}");
    }
}
