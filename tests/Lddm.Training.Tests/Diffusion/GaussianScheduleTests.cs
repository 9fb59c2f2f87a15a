using Lddm.Training.Diffusion;
using Xunit;

namespace Lddm.Training.Tests.Diffusion;

public sealed class GaussianScheduleTests
{
    public static TheoryData<GaussianScheduleKind, double> Kinds => new()
    {
        { GaussianScheduleKind.Sqrt, 2 },
        { GaussianScheduleKind.Cosine, 2 },
        { GaussianScheduleKind.Linear, 2 },
        { GaussianScheduleKind.Poly, 2 },
        { GaussianScheduleKind.Poly, 3.5 },
    };

    private static readonly double[] s_times = [0.0, 0.003, 0.1, 0.4, 0.5, 0.8, 0.97, 1.0];

    /// <summary>§1.3 restated: the raw shapes, then the common clip.</summary>
    private static double Reference(GaussianScheduleKind kind, double p, double t)
    {
        double raw = kind switch
        {
            GaussianScheduleKind.Sqrt => Math.Pow(1 - t, 0.5),
            GaussianScheduleKind.Cosine => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2),
            GaussianScheduleKind.Linear => 1 - t,
            _ => 1 - Math.Pow(t, p),
        };
        return (1 - 2e-4) * raw + 1e-4;
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void AbarSquaredFollowsTheClippedDefinition(GaussianScheduleKind kind, double p)
    {
        var schedule = new GaussianSchedule(kind, p);
        foreach (double t in s_times)
        {
            double a = schedule.AbarSquared(t);
            Assert.Equal(Reference(kind, p, t), a, 14);
            Assert.InRange(a, 1e-4 - 1e-15, 1 - 1e-4 + 1e-15);
            Assert.Equal(1.0, schedule.Abar(t) * schedule.Abar(t) + schedule.Sbar(t) * schedule.Sbar(t), 14);
            Assert.Equal(a / (1 - a), schedule.Snr(t), 10);
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void DerivativesEqualCentralFiniteDifferences(GaussianScheduleKind kind, double p)
    {
        var schedule = new GaussianSchedule(kind, p);
        const double h = 1e-6;
        foreach (double t in new[] { 0.05, 0.3, 0.6, 0.9 })
        {
            double fdA = (schedule.AbarSquared(t + h) - schedule.AbarSquared(t - h)) / (2 * h);
            Assert.True(Math.Abs(schedule.AbarSquaredPrime(t) - fdA) < 1e-6 * (1 + Math.Abs(fdA)), $"{schedule} A′ at {t}");
            double fdSnr = (schedule.Snr(t + h) - schedule.Snr(t - h)) / (2 * h);
            Assert.True(Math.Abs(schedule.SnrPrime(t) - fdSnr) < 1e-5 * (1 + Math.Abs(fdSnr)), $"{schedule} SNR′ at {t}: {schedule.SnrPrime(t)} vs {fdSnr}");
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void PosteriorIsTheGaussianConditionalOfTheJointCovariance(GaussianScheduleKind kind, double p)
    {
        var schedule = new GaussianSchedule(kind, p);
        foreach (var (s, t) in new[] { (0.0, 0.1), (0.1, 0.2), (0.3, 0.9), (0.5, 0.5001), (0.9, 1.0) })
        {
            // Given y_0: y_s = ā_s y_0 + s̄_s ε₁ and y_t = α_{t|s} y_s + σ_{t|s} ε₂ with α_{t|s} = ā_t/ā_s, so
            // E[y_s] = ā_s y_0, E[y_t] = ā_t y_0, Var y_s = s̄²_s, Var y_t = s̄²_t, Cov(y_s, y_t) = α_{t|s} s̄²_s.
            // Conditioning: E[y_s | y_t] = E y_s + C/V_t (y_t − E y_t), Var = V_s − C²/V_t.
            double abarS = Math.Sqrt(Reference(kind, p, s)), abarT = Math.Sqrt(Reference(kind, p, t));
            double vS = 1 - abarS * abarS, vT = 1 - abarT * abarT;
            double cov = abarT / abarS * vS;
            double coefYt = cov / vT;
            double coefY0 = abarS - coefYt * abarT;
            double variance = vS - cov * cov / vT;
            var posterior = schedule.Posterior(s, t);
            string where = $"{schedule}, s = {s}, t = {t}";
            Assert.True(Math.Abs(posterior.CoefYt - coefYt) < 1e-9, $"{where}: y_t coefficient {posterior.CoefYt} vs {coefYt}");
            Assert.True(Math.Abs(posterior.CoefY0 - coefY0) < 1e-9, $"{where}: y_0 coefficient {posterior.CoefY0} vs {coefY0}");
            Assert.True(Math.Abs(posterior.Variance - variance) < 1e-9, $"{where}: variance {posterior.Variance} vs {variance}");
        }
    }

    [Fact]
    public void InvalidArgumentsThrowClearErrors()
    {
        Assert.Contains("p must be", Assert.Throws<ArgumentOutOfRangeException>(() => new GaussianSchedule(GaussianScheduleKind.Poly, 0)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new GaussianSchedule((GaussianScheduleKind)42));
        var schedule = new GaussianSchedule();
        Assert.Contains("s < t", Assert.Throws<ArgumentOutOfRangeException>(() => schedule.Posterior(0.5, 0.5)).Message);
        Assert.Contains("[0, 1]", Assert.Throws<ArgumentOutOfRangeException>(() => schedule.Posterior(0.5, 1.5)).Message);
    }
}
