using Lddm.Training.Data;
using Lddm.Training.Evaluation;
using Lddm.Training.Tests.Engine;
using Xunit;

namespace Lddm.Training.Tests.Evaluation;

public sealed class EvaluationTests
{
    private static double[] RandomDistribution(Random rng, int size)
    {
        var w = Enumerable.Range(0, size).Select(_ => rng.NextDouble() + 1e-3).ToArray();
        double total = w.Sum();
        return w.Select(x => x / total).ToArray();
    }

    [Fact]
    public void Kl_of_identical_distributions_is_zero_and_matches_a_float64_hand_computation()
    {
        int seed = Environment.TickCount;
        var rng = new Random(seed);
        for (int trial = 0; trial < 20; trial++)
        {
            var p = RandomDistribution(rng, 1 + rng.Next(40));
            Assert.Equal(0.0, SequenceMetrics.KlDivergence(p, p));
        }
        // Crafted: p = (1/2, 1/4, 1/4, 0), q = (1/4, 1/4, 1/8, 3/8): KL = ½ln2 + 0 + ¼ln2 + 0 = ¾ ln 2.
        double[] a = [0.5, 0.25, 0.25, 0], b = [0.25, 0.25, 0.125, 0.375];
        Assert.Equal(0.75 * Math.Log(2), SequenceMetrics.KlDivergence(a, b), 15);
        var p2 = RandomDistribution(rng, 7);
        var q2 = RandomDistribution(rng, 7);
        double hand = 0;
        for (int v = 0; v < 7; v++)
        {
            hand += p2[v] * (Math.Log(p2[v]) - Math.Log(q2[v]));
        }
        Assert.True(Math.Abs(hand - SequenceMetrics.KlDivergence(p2, q2)) < 1e-13, $"seed {seed}: {hand} vs {SequenceMetrics.KlDivergence(p2, q2)}");
        Assert.Equal(double.PositiveInfinity, SequenceMetrics.KlDivergence(b, a)); // q(3) = 0 < p(3)
        var e = Assert.Throws<ArgumentException>(() => SequenceMetrics.KlDivergence(a, [1.0]));
        Assert.Contains("sizes 4 and 1", e.Message);
    }

    [Fact]
    public void Unigram_distribution_and_entropy_match_counts()
    {
        Assert.Equal(0.0, SequenceMetrics.UnigramEntropy([1, 1, 1, 1, 1], 3));
        Assert.Equal(Math.Log(2), SequenceMetrics.UnigramEntropy([0, 1, 1, 0, 1, 0], 2), 15);
        int seed = Environment.TickCount;
        var rng = new Random(seed);
        var tokens = Enumerable.Range(0, 1 + rng.Next(200)).Select(_ => rng.Next(5)).ToArray();
        var p = SequenceMetrics.UnigramDistribution(tokens, 5);
        for (int v = 0; v < 5; v++)
        {
            Assert.Equal((double)tokens.Count(t => t == v) / tokens.Length, p[v], 15);
        }
        double hand = -p.Where(x => x > 0).Sum(x => x * Math.Log(x));
        Assert.Equal(hand, SequenceMetrics.UnigramEntropy(tokens, 5), 14);
        var bad = Assert.Throws<ArgumentException>(() => SequenceMetrics.UnigramDistribution([0, 5], 5));
        Assert.Contains("Token 5 is outside the vocabulary [0, 5)", bad.Message);
    }

    [Fact]
    public void Mean_and_standard_error_are_the_sample_formulas()
    {
        var e = SequenceMetrics.MeanAndStandardError([1.0, 2.0, 4.0]);
        double mean = 7.0 / 3, variance = ((1 - mean) * (1 - mean) + (2 - mean) * (2 - mean) + (4 - mean) * (4 - mean)) / 2;
        Assert.Equal(mean, e.Mean, 15);
        Assert.Equal(Math.Sqrt(variance / 3), e.StandardError, 15);
        Assert.True(double.IsNaN(SequenceMetrics.MeanAndStandardError([3.0]).StandardError));
    }

    /// <summary>
    /// A "model" whose samples are all zeros: NLL is the true model's exact −log₂ p(0…0), entropy 0 and — since the
    /// data holds ones — KL(data ‖ generated) = ∞; sampling goes in batches and reports progress up to the count.
    /// </summary>
    [Fact]
    public void Sawtooth_evaluation_scores_a_constant_generator_exactly()
    {
        var data = new SawtoothData(new SawtoothConfig(16));
        var evaluation = new SawtoothEvaluation(data, count: 10, seed: 3);
        using var model = new FrozenPartModel(Kernels.Tests.Support.TestBackends.Cpu, 2);
        var reports = new List<int>();
        var rows = evaluation.Evaluate(model, "zeros", steps: 4, batch: 4, new InlineProgress(reports.Add));
        Assert.Equal([4, 8, 10], reports);
        var nll = rows.Single(r => r.Metric == SawtoothEvaluation.Nll);
        Assert.Equal(-data.Generator.LogLikelihood(new int[16]) / Math.Log(2), nll.Mean, 9);
        Assert.True(nll.StandardError < 1e-12, $"identical sequences, SE {nll.StandardError}");
        Assert.Equal(0.0, rows.Single(r => r.Metric == SawtoothEvaluation.UnigramEntropy).Mean);
        Assert.Equal(double.PositiveInfinity, rows.Single(r => r.Metric == SawtoothEvaluation.UnigramKl).Mean);
        Assert.All(rows, r => Assert.Equal(("zeros", 4), (r.Model, r.Steps)));
        // The real sequences' references are finite and sensible: entropy in (0, ln 2], NLL below the i.i.d. bound + noise.
        Assert.InRange(evaluation.RealEntropy.Mean, 1e-9, Math.Log(2));
        Assert.True(evaluation.RealNll.Mean > 0);
    }

    private sealed class InlineProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }

    [Fact]
    public void Validation_terms_are_size_weighted_means_that_sum_to_the_total()
    {
        var rng = new Random(Environment.TickCount);
        var sequences = Enumerable.Range(0, 7).Select(_ => new[] { 0, 1 }).ToList();
        var values = new Dictionary<long, (double Tokens, double Latent)>();
        var estimate = NelboEvaluator.ValidationNelbo((x0, batch, length, step) =>
        {
            var v = values.TryGetValue(step, out var known) ? known : values[step] = (rng.NextDouble(), rng.NextDouble());
            return new TwoTermLoss(v.Tokens, v.Latent);
        }, sequences, batch: 3, draws: 2);
        // batches of 3, 3, 1 sequences: weights 3/7, 3/7, 1/7 within a draw; draws averaged.
        double Expected(Func<(double Tokens, double Latent), double> pick) =>
            values.OrderBy(kv => kv.Key).Select((kv, i) => pick(kv.Value) * (i % 3 == 2 ? 1 : 3)).Sum() / (7.0 * 2);
        Assert.Equal(2, estimate.Terms!.Count);
        Assert.Equal(Expected(v => v.Tokens), estimate.Terms[0].NatsPerToken, 12);
        Assert.Equal(Expected(v => v.Latent), estimate.Terms[1].NatsPerToken, 12);
        Assert.Equal(estimate.NatsPerToken, estimate.Terms.Sum(t => t.NatsPerToken), 12);
        Assert.Contains("tokens", estimate.DescribeTerms());
    }

    private sealed class TwoTermLoss(double tokens, double latent) : Lddm.Training.Engine.IStepLoss
    {
        public Lddm.Autograd.Tensor Value => throw new NotSupportedException();

        public double NelboPerToken() => tokens + latent;

        public IReadOnlyList<(string Term, double NatsPerToken)> Terms() => [("tokens", tokens), ("latent", latent)];
    }
}
