using Lddm.Training.Diffusion;
using Xunit;

namespace Lddm.Training.Tests.Diffusion;

public sealed class MaskingScheduleTests
{
    public static TheoryData<string> Names => new() { "loglinear", "linear", "loglinear-0.1", "linear-0.3" };

    private static MaskingSchedule Get(string name) => name switch
    {
        "loglinear" => MaskingSchedule.LogLinear(),
        "linear" => MaskingSchedule.Linear(),
        "loglinear-0.1" => MaskingSchedule.LogLinear(0.1),
        _ => MaskingSchedule.Linear(0.3),
    };

    private static readonly double[] s_times = [1e-3, 0.01, 0.25, 0.5, 0.77, 0.999];

    [Theory]
    [MemberData(nameof(Names))]
    public void AlphaPrimeEqualsCentralFiniteDifference(string name)
    {
        var schedule = Get(name);
        const double h = 1e-6;
        foreach (double t in s_times)
        {
            double fd = (schedule.Alpha(t + h) - schedule.Alpha(t - h)) / (2 * h);
            Assert.True(Math.Abs(schedule.AlphaPrime(t) - fd) < 1e-8, $"{schedule} at t = {t}: α′ {schedule.AlphaPrime(t)}, FD {fd}.");
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void AlphaDecreasesInsideTheUnitInterval(string name)
    {
        var schedule = Get(name);
        for (int k = 0; k <= 100; k++)
        {
            double t = k / 100.0;
            Assert.InRange(schedule.Alpha(t), 0, 1);
            Assert.True(schedule.AlphaPrime(t) < 0);
            Assert.True(schedule.NelboWeight(Math.Max(t, 1e-3)) > 0);
        }
        Assert.True(schedule.Alpha(1) >= 0 && schedule.Alpha(1) < 0.5);
    }

    [Fact]
    public void LogLinearNelboWeightIsOneOverT()
    {
        var schedule = MaskingSchedule.LogLinear();
        foreach (double t in s_times)
        {
            Assert.True(Math.Abs(schedule.NelboWeight(t) * t - 1) < 1e-12, $"t = {t}: w = {schedule.NelboWeight(t)}.");
        }
    }

    [Fact]
    public void SchedulesMatchTheirDefiningFormulas()
    {
        // MDLM: σ(t) = −log(1 − (1−ε)t), α = exp(−σ); LADD: linear between 1−ε (t = 0) and ε (t = 1).
        var logLinear = MaskingSchedule.LogLinear();
        var linear = MaskingSchedule.Linear();
        foreach (double t in s_times)
        {
            double sigma = -Math.Log(1 - (1 - 1e-3) * t);
            Assert.Equal(Math.Exp(-sigma), logLinear.Alpha(t), 12);
            double expected = (1 - 1e-4) + t * ((1e-4) - (1 - 1e-4));
            Assert.Equal(expected, linear.Alpha(t), 12);
        }
        Assert.Equal(1e-3, logLinear.Epsilon);
        Assert.Equal(1e-4, linear.Epsilon);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1e-3)]
    [InlineData(0.5)]
    [InlineData(0.7)]
    [InlineData(double.NaN)]
    public void InvalidEpsilonThrows(double epsilon)
    {
        var a = Assert.Throws<ArgumentOutOfRangeException>(() => MaskingSchedule.LogLinear(epsilon));
        Assert.Contains("ε must lie in (0, 0.5)", a.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => MaskingSchedule.Linear(epsilon));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimeSampler(epsilon));
    }

    [Theory]
    [InlineData(-0.01)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    public void TimeOutsideUnitIntervalThrows(double t)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => MaskingSchedule.Linear().Alpha(t));
        Assert.Contains("[0, 1]", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => MaskingSchedule.LogLinear().AlphaPrime(t));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GaussianSchedule().AbarSquared(t));
    }
}
