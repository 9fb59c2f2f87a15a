using Lddm.Training.Diffusion;
using Xunit;

namespace Lddm.Training.Tests.Diffusion;

public sealed class TimeSamplerTests
{
    [Theory]
    [InlineData(1, StratifiedJitter.Independent)]
    [InlineData(7, StratifiedJitter.Independent)]
    [InlineData(64, StratifiedJitter.Independent)]
    [InlineData(7, StratifiedJitter.Shared)]
    [InlineData(64, StratifiedJitter.Shared)]
    public void EachStratumGetsExactlyOneTime(int batch, StratifiedJitter jitter)
    {
        var sampler = new TimeSampler(1e-3, jitter);
        var rng = new Random(batch);
        for (int repeat = 0; repeat < 200; repeat++)
        {
            var t = sampler.Sample(rng, batch);
            var counts = new int[batch];
            foreach (double ti in t)
            {
                Assert.InRange(ti, 1e-3, 1.0);
                double u = (ti - 1e-3) / (1 - 1e-3);
                counts[Math.Min(batch - 1, (int)Math.Floor(u * batch + 1e-12))]++;
            }
            Assert.All(counts, c => Assert.Equal(1, c));
        }
    }

    [Theory]
    [InlineData(StratifiedJitter.Independent)]
    [InlineData(StratifiedJitter.Shared)]
    public void EveryElementIsMarginallyUniformOnEpsilonToOne(StratifiedJitter jitter)
    {
        // Element 0 of a batch of 4 must still be U[ε, 1) marginally once the stratum is forgotten: fold the four
        // strata onto one another and check mean and variance of the within-stratum offset.
        const double eps = 1e-4;
        var sampler = new TimeSampler(eps, jitter);
        var rng = new Random(9);
        const int n = 20_000;
        double sum = 0;
        for (int k = 0; k < n; k++)
        {
            sum += sampler.Sample(rng, 4).Average();
        }
        double expected = (1 + eps) / 2;
        // The batch mean of a stratified sample has variance ≤ that of one uniform / B; bound with the uniform's.
        double se = Math.Sqrt((1 - eps) * (1 - eps) / 12 / 4 / n);
        Assert.True(Math.Abs(sum / n - expected) < 5 * se, $"{jitter}: mean {sum / n} vs {expected}");
    }

    [Fact]
    public void SharedJitterGivesARegularGrid()
    {
        var t = new TimeSampler(0.01, StratifiedJitter.Shared).Sample(new Random(3), 8);
        var sorted = t.Order().ToArray();
        for (int i = 1; i < sorted.Length; i++)
        {
            Assert.Equal((1 - 0.01) / 8, sorted[i] - sorted[i - 1], 12);
        }
    }

    [Fact]
    public void SameRandomSeedGivesSameTimes()
    {
        var sampler = new TimeSampler();
        Assert.Equal(sampler.Sample(new Random(5), 16), sampler.Sample(new Random(5), 16));
    }

    [Fact]
    public void EmptyBatchThrows()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimeSampler().Sample(new Random(1), 0));
        Assert.Throws<ArgumentException>(() => new TimeSampler().Sample(new Random(1), Span<double>.Empty));
    }
}
