using Lddm.Kernels.Tests.Support;
using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Training.Tests.Mdlm;

public sealed class MdlmEvaluatorTests(ITestOutputHelper output)
{
    private static MdlmEvaluator Evaluator(bool elbo = false) =>
        new(new MdlmObjective(MaskingSchedule.LogLinear(), new TimeSampler(), new MdlmObjectiveConfig(elbo)));

    /// <summary>
    /// A set of two distinct sequences (L = 4, K = 3; 5 copies each, batches of 4 so the last batch is short): the
    /// estimate matches the mean of the two exact NELBOs (enumeration + quadrature) within 3 standard errors, whatever
    /// the training weighting, and bits = nats / ln 2.
    /// </summary>
    [Fact]
    public void EstimateMatchesTheExactNelboOfTheSet()
    {
        const int k = 3;
        using var model = TinyMdlm.Create(TestBackends.Cpu, k, 4, seed: 31, scale: 0.8f);
        int[] a = [2, 0, 1, 2], b = [1, 1, 0, 2];
        var set = Enumerable.Range(0, 10).Select(i => i % 2 == 0 ? a : b).ToList();
        var evaluator = Evaluator();
        double exact = (TinyMdlm.ExactNelbo(model, evaluator.Objective, a, k).Nelbo + TinyMdlm.ExactNelbo(model, evaluator.Objective, b, k).Nelbo) / 2;

        var estimate = evaluator.ValidationNelbo(model, set, batch: 4, seed: 17, draws: 400);
        output.WriteLine($"validation NELBO {estimate.NatsPerToken:F5} ± {estimate.StandardError:F5} nats/token ({estimate.BitsPerToken:F5} bits), exact {exact:F5}, |Δ|/SE = {Math.Abs(estimate.NatsPerToken - exact) / estimate.StandardError:F2}");
        Assert.True(Math.Abs(estimate.NatsPerToken - exact) < 3 * estimate.StandardError, $"{estimate} vs exact {exact}.");
        Assert.Equal(estimate.NatsPerToken / Math.Log(2), estimate.BitsPerToken, 12);
        Assert.Equal(400, estimate.Draws);
        Assert.Equal(estimate, Evaluator(elbo: true).ValidationNelbo(model, set, batch: 4, seed: 17, draws: 400), new EstimateComparer());
    }

    [Fact]
    public void SameSeedGivesTheSameEstimateAndNoGradient()
    {
        using var model = TinyMdlm.Create(TestBackends.Cpu, 3, 4, seed: 32);
        int[][] set = [[2, 0, 1, 2], [1, 1, 0, 2], [0, 0, 0, 1]];
        var evaluator = Evaluator();
        var first = evaluator.ValidationNelbo(model, set, batch: 2, seed: 5, draws: 3);
        var again = evaluator.ValidationNelbo(model, set, batch: 2, seed: 5, draws: 3);
        Assert.Equal(first, again);
        Assert.NotEqual(first.NatsPerToken, evaluator.ValidationNelbo(model, set, batch: 2, seed: 6, draws: 3).NatsPerToken);
        Assert.All(model.Parameters(), p => Assert.Null(p.Grad));
        Assert.True(double.IsNaN(evaluator.ValidationNelbo(model, set, batch: 2, seed: 5, draws: 1).StandardError));
    }

    [Fact]
    public void RaggedOrEmptySetsAreRejected()
    {
        using var model = TinyMdlm.Create(TestBackends.Cpu, 3, 4, seed: 33);
        var evaluator = Evaluator();
        var ragged = Assert.Throws<ArgumentException>(() => evaluator.ValidationNelbo(model, [[0, 1, 2, 0], [0, 1]], 2, 1, 1));
        Assert.Contains("sequence 1 has length 2", ragged.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => evaluator.ValidationNelbo(model, [], 2, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => evaluator.ValidationNelbo(model, [[0, 1, 2, 0]], 0, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => evaluator.ValidationNelbo(model, [[0, 1, 2, 3]], 1, 1, 1)); // 3 = MASK
    }

    /// <summary>The weighting only changes the training loss, not the reported NELBO (up to float rounding).</summary>
    private sealed class EstimateComparer : IEqualityComparer<NelboEstimate>
    {
        public bool Equals(NelboEstimate? x, NelboEstimate? y) =>
            x is not null && y is not null && Math.Abs(x.NatsPerToken - y.NatsPerToken) <= 1e-5 * x.NatsPerToken;

        public int GetHashCode(NelboEstimate obj) => 0;
    }
}
