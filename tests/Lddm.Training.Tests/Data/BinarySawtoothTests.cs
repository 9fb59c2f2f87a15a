using Lddm.Training.Data;
using Xunit;

namespace Lddm.Training.Tests.Data;

public sealed class BinarySawtoothTests
{
    public static TheoryData<int, double> SmallConfigs => new() { { 1, 0.01 }, { 2, 0.01 }, { 3, 0.2 }, { 2, 0.5 }, { 5, 0.05 } };

    private static int[] Bits(int code, int length)
    {
        var x = new int[length];
        for (int i = 0; i < length; i++)
        {
            x[i] = (code >> i) & 1;
        }
        return x;
    }

    /// <summary>Midpoint rule over the shift with many points: an independent (slow) integral of f(s).</summary>
    private static double Riemann(Func<double, double> f, int points)
    {
        double total = 0;
        for (int k = 0; k < points; k++)
        {
            total += f((k + 0.5) / points);
        }
        return total / points;
    }

    [Theory]
    [MemberData(nameof(SmallConfigs))]
    public void LikelihoodSumsToOneOverAllSequencesOfLengthTen(int numSaws, double scale)
    {
        var task = new BinarySawtooth(new SawtoothConfig(10, numSaws, scale));
        double total = 0;
        for (int code = 0; code < 1 << 10; code++)
        {
            total += Math.Exp(task.LogLikelihood(Bits(code, 10)));
        }
        Assert.True(Math.Abs(total - 1) < 1e-12, $"Σ p(x) = {total:R} for numSaws {numSaws}, scale {scale}.");
    }

    [Theory]
    [MemberData(nameof(SmallConfigs))]
    public void LikelihoodMatchesFineRiemannSumOverTheShift(int numSaws, double scale)
    {
        var task = new BinarySawtooth(new SawtoothConfig(6, numSaws, scale));
        for (int code = 0; code < 1 << 6; code += 9)
        {
            var x = Bits(code, 6);
            double riemann = Riemann(s => Math.Exp(task.LogConditional(x, s)), 100_000);
            double exact = Math.Exp(task.LogLikelihood(x));
            Assert.True(Math.Abs(exact - riemann) <= 1e-7 * riemann, $"x = {code}: quadrature {exact:R}, Riemann {riemann:R}.");
        }
    }

    [Fact]
    public void LongSequencesDoNotUnderflow()
    {
        var task = new BinarySawtooth(new SawtoothConfig());
        var sample = task.Generate(7, 0);
        double logP = task.LogLikelihood(sample.Tokens);
        Assert.True(double.IsFinite(logP) && logP < 0, $"log p = {logP}");
        // An independent log-domain midpoint sum over the shift.
        double max = double.NegativeInfinity;
        var terms = new double[50_000];
        for (int k = 0; k < terms.Length; k++)
        {
            terms[k] = task.LogConditional(sample.Tokens, (k + 0.5) / terms.Length);
            max = Math.Max(max, terms[k]);
        }
        double riemann = max + Math.Log(terms.Sum(t => Math.Exp(t - max)) / terms.Length);
        Assert.True(Math.Abs(logP - riemann) < 1e-4, $"quadrature {logP:R}, Riemann {riemann:R}.");
    }

    [Fact]
    public void GeneratorMomentsMatchTheFormula()
    {
        var task = new BinarySawtooth(new SawtoothConfig(16, 2, 0.05));
        const int n = 40_000;
        var sum = new double[16];
        var pair = new double[16];
        var tokens = new int[16];
        for (int k = 0; k < n; k++)
        {
            task.Generate(11, k, tokens);
            for (int i = 0; i < 16; i++)
            {
                sum[i] += tokens[i];
                pair[i] += tokens[0] * tokens[i];
            }
        }
        for (int i = 0; i < 16; i++)
        {
            int j = i;
            double mean = Riemann(s => task.Probability(j, s), 100_000);
            double joint = i == 0 ? mean : Riemann(s => task.Probability(0, s) * task.Probability(j, s), 100_000);
            AssertWithin5Se(sum[i] / n, mean, n, $"E[x_{i}]");
            AssertWithin5Se(pair[i] / n, joint, n, $"E[x_0 x_{i}]");
        }
    }

    private static void AssertWithin5Se(double observed, double expected, int n, string what)
    {
        double se = Math.Sqrt(expected * (1 - expected) / n);
        Assert.True(Math.Abs(observed - expected) <= 5 * se, $"{what}: observed {observed:R}, formula {expected:R}, SE {se:E2}.");
    }

    [Fact]
    public void ShiftsAreUniformAndTokensFollowTheirShift()
    {
        var task = new BinarySawtooth(new SawtoothConfig(32, 2, 0.01));
        var shifts = Enumerable.Range(0, 20_000).Select(k => task.Generate(3, k).Shift).ToArray();
        double mean = shifts.Average();
        Assert.True(Math.Abs(mean - 0.5) < 5 * Math.Sqrt(1.0 / 12 / shifts.Length), $"mean shift {mean}");
        Assert.All(shifts, s => Assert.InRange(s, 0, 1 - double.Epsilon));
    }

    [Fact]
    public void SameSeedGivesSameDataAndEachIndexIsIndependentlyGenerable()
    {
        var task = new BinarySawtooth(new SawtoothConfig(20, 2, 0.01));
        var block = new int[10 * 20];
        var shifts = new double[10];
        task.Generate(42, 100, 10, block, shifts);
        var again = new int[10 * 20];
        var shiftsAgain = new double[10];
        task.Generate(42, 100, 10, again, shiftsAgain);
        Assert.Equal(block, again);
        Assert.Equal(shifts, shiftsAgain);
        var alone = task.Generate(42, 105);
        Assert.Equal(block.AsSpan(5 * 20, 20).ToArray(), alone.Tokens);
        Assert.Equal(shifts[5], alone.Shift);
        Assert.NotEqual(shifts[0], task.Generate(43, 100).Shift);
    }

    [Fact]
    public void EntropyEstimateMatchesExactEnumeration()
    {
        var task = new BinarySawtooth(new SawtoothConfig(10, 2, 0.05));
        double exact = 0;
        for (int code = 0; code < 1 << 10; code++)
        {
            double logP = task.LogLikelihood(Bits(code, 10));
            exact -= Math.Exp(logP) * logP;
        }
        var estimate = task.EntropyPerSequence(5, 4000);
        Assert.True(Math.Abs(estimate.Mean - exact) <= 5 * estimate.StandardError,
            $"MC {estimate.Mean:R} ± {estimate.StandardError:E2}, exact {exact:R}.");
    }

    [Fact]
    public void IidBaselineMatchesEnumeratedMarginalsAndIsAboveTheEntropy()
    {
        var task = new BinarySawtooth(new SawtoothConfig(10, 3, 0.1));
        var marginal = new double[10];
        double entropy = 0;
        for (int code = 0; code < 1 << 10; code++)
        {
            var x = Bits(code, 10);
            double logP = task.LogLikelihood(x);
            entropy -= Math.Exp(logP) * logP;
            for (int i = 0; i < 10; i++)
            {
                marginal[i] += x[i] * Math.Exp(logP);
            }
        }
        double pBar = marginal.Average();
        double expected = -marginal.Sum(p => p * Math.Log(pBar) + (1 - p) * Math.Log(1 - pBar));
        Assert.True(Math.Abs(task.IidBernoulliNll() - expected) < 1e-10, $"{task.IidBernoulliNll():R} vs {expected:R}");
        Assert.True(task.IidBernoulliNll() > entropy + 0.1, "the correlated data must have lower entropy than i.i.d.");
        for (int i = 0; i < 10; i++)
        {
            Assert.True(Math.Abs(task.MarginalProbability(i) - marginal[i]) < 1e-12);
        }
    }

    [Theory]
    [InlineData(0, 2, 0.01)]
    [InlineData(8, 0, 0.01)]
    [InlineData(8, 2, 0.0)]
    [InlineData(8, 2, 0.6)]
    [InlineData(8, 2, double.NaN)]
    public void InvalidConfigThrowsNamingTheParameter(int length, int saws, double scale)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SawtoothConfig(length, saws, scale));
        Assert.Contains("Sawtooth", error.Message);
    }

    [Fact]
    public void NonBinaryTokenIsRejectedWithItsPosition()
    {
        var task = new BinarySawtooth(new SawtoothConfig(4, 1, 0.1));
        var error = Assert.Throws<ArgumentException>(() => task.LogLikelihood([0, 1, BinarySawtooth.MaskId, 0]));
        Assert.Contains("position 2", error.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(33)]
    public void GaussLegendreIsExactForPolynomialsUpToDegreeTwoMMinusOne(int m)
    {
        var (nodes, weights) = GaussLegendre.Rule(m);
        for (int degree = 0; degree <= 2 * m - 1; degree++)
        {
            double quadrature = 0;
            for (int j = 0; j < m; j++)
            {
                quadrature += weights[j] * Math.Pow(nodes[j], degree);
            }
            double exact = degree % 2 == 1 ? 0 : 2.0 / (degree + 1);
            Assert.True(Math.Abs(quadrature - exact) < 1e-13, $"m {m}, degree {degree}: {quadrature:R} vs {exact:R}");
        }
    }
}
