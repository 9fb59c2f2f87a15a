using FsCheck.Xunit;
using Lddm.Training.Diffusion;
using Lddm.Training.Runs;
using Xunit;

namespace Lddm.Training.Tests.Diffusion;

/// <summary>The latent chain's coefficients against closed forms derived here, in float64.</summary>
public sealed class LatentChainTests
{
    private static readonly string[] s_schedules = ["sqrt", "cosine", "linear", "poly"];

    /// <summary>A chain from the config keys, and (s, t) with 0 ≤ s &lt; t &lt; 1 from two bytes-worth of randomness.</summary>
    private static (LatentChain Chain, double S, double T) Case(byte kind, ushort a, ushort b, double power = 2)
    {
        var chain = RunOptions.Latent(new TrainConfig { LatentSchedule = s_schedules[kind % 4], LatentPower = power }).CreateChain();
        double u = (a + 0.5) / 65536.0, v = (b + 0.5) / 65536.0;
        double t = 0.001 + 0.998 * Math.Max(u, v), s = t * Math.Min(u, v) / Math.Max(u, v) * (u == v ? 0.5 : 1);
        return (chain, s, t);
    }

    /// <summary>ā² restated from §1.3 (raw shape, then the common clip), independently of GaussianSchedule.</summary>
    private static double AbarSquared(string kind, double p, double t)
    {
        double raw = kind switch
        {
            "sqrt" => Math.Sqrt(1 - t),
            "cosine" => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2),
            "linear" => 1 - t,
            _ => 1 - Math.Pow(t, p),
        };
        return (1 - 2e-4) * raw + 1e-4;
    }

    /// <summary>
    /// q(y_s | y_t, y₀) ∝ q(y_s | y₀)·q(y_t | y_s): N(ā_s y₀, s̄²_s) times N(y_t; α_{t|s} y_s, σ²_{t|s}), a product of
    /// Gaussians in y_s: precision 1/s̄²_s + α²_{t|s}/σ²_{t|s}, mean = variance·(ā_s y₀/s̄²_s + α_{t|s} y_t/σ²_{t|s}).
    /// </summary>
    [Property(MaxTest = 200)]
    public void DdpmStepIsTheProductOfGaussiansPosterior(byte kind, ushort a, ushort b)
    {
        var (chain, s, t) = Case(kind, a, b);
        string name = s_schedules[kind % 4];
        double aS = AbarSquared(name, 2, s), aT = AbarSquared(name, 2, t);
        double alpha2 = aT / aS, sigma2 = (1 - aT) - alpha2 * (1 - aS);
        double precision = 1 / (1 - aS) + alpha2 / sigma2;
        double variance = 1 / precision;
        double coefY0 = variance * Math.Sqrt(aS) / (1 - aS), coefYt = variance * Math.Sqrt(alpha2) / sigma2;

        var ddpm = chain.Ddpm(t, s);
        string where = $"{chain}, s = {s}, t = {t}";
        AssertRel(coefYt, ddpm.CoefYt, 1e-8, $"{where}: y_t coefficient");
        AssertRel(coefY0, ddpm.CoefY0, 1e-8, $"{where}: y₀ coefficient");
        AssertRel(Math.Sqrt(variance), ddpm.Sigma, 1e-7, $"{where}: σ̃");
    }

    /// <summary>DDIM keeps (y₀, ε) fixed: y_t = ā_t y₀ + s̄_t ε goes to exactly ā_s y₀ + s̄_s ε.</summary>
    [Property(MaxTest = 200)]
    public void DdimMapsTheSamePairAtTToThePairAtS(byte kind, ushort a, ushort b, int seed)
    {
        var (chain, s, t) = Case(kind, a, b, power: 3.5);
        var rng = new Random(seed);
        double y0 = rng.NextDouble() * 4 - 2, eps = rng.NextDouble() * 4 - 2;
        var ddim = chain.Ddim(t, s);
        double yt = ddim.AbarT * y0 + ddim.SbarT * eps;

        double epsHat = (yt - ddim.AbarT * y0) / ddim.SbarT; // §4.2 with ŷ₀ = y₀
        double ys = ddim.AbarS * y0 + ddim.SbarS * epsHat;
        var (fromYt, fromY0) = ddim.Linear;
        double expected = chain.Abar(s) * y0 + chain.Sbar(s) * eps;
        AssertRel(expected, ys, 1e-9, $"{chain}, {s} ← {t}: DDIM");
        AssertRel(expected, fromYt * yt + fromY0 * y0, 1e-9, $"{chain}, {s} ← {t}: DDIM as a linear map");
        Assert.Equal(Math.Sqrt(AbarSquared(s_schedules[kind % 4], 3.5, t)), ddim.AbarT, 12);
    }

    /// <summary>½(−dSNR/dt) against a central difference of SNR = ā²/(1 − ā²) written from the closed form.</summary>
    [Property(MaxTest = 200)]
    public void ElboWeightIsHalfMinusTheSnrDerivative(byte kind, ushort a)
    {
        var (chain, _, t) = Case(kind, a, a);
        t = Math.Min(t, 0.99);
        string name = s_schedules[kind % 4];
        double Snr(double u) => AbarSquared(name, 2, u) / (1 - AbarSquared(name, 2, u));
        const double h = 1e-6;
        double fd = -0.5 * (Snr(t + h) - Snr(t - h)) / (2 * h);
        AssertRel(fd, chain.ElboWeight(t), 1e-5, $"{chain} at t = {t}: ELBO weight");
        Assert.True(chain.ElboWeight(t) > 0, $"{chain}: SNR must decrease in t.");
        AssertRel(chain.ElboWeight(t) / Snr(t), chain.ElboWeightEps(t), 1e-9, $"{chain} at t = {t}: eps weight");
    }

    [Property(MaxTest = 100)]
    public void EpsAndY0ConversionsInvertTheNoising(byte kind, ushort a, int seed)
    {
        var (chain, _, t) = Case(kind, a, a);
        var rng = new Random(seed);
        double y0 = rng.NextDouble() * 4 - 2, eps = rng.NextDouble() * 4 - 2;
        double yt = chain.Abar(t) * y0 + chain.Sbar(t) * eps;
        var (y0FromYt, y0FromEps) = chain.EpsToY0(t);
        var (epsFromYt, epsFromY0) = chain.Y0ToEps(t);
        AssertRel(y0, y0FromYt * yt + y0FromEps * eps, 1e-6, $"{chain} at t = {t}: ε → y₀");
        AssertRel(eps, epsFromYt * yt + epsFromY0 * y0, 1e-6, $"{chain} at t = {t}: y₀ → ε");

        var (abar, sbar) = chain.Noising([t, 1 - t]);
        Assert.Equal((float)chain.Abar(t), abar[0]);
        Assert.Equal((float)chain.Sbar(1 - t), sbar[1]);
    }

    [Fact]
    public void ConfigNamesTheScheduleAndBadValuesAreRejected()
    {
        Assert.Equal(GaussianScheduleKind.Sqrt, RunOptions.Latent(new TrainConfig()).CreateChain().Schedule.Kind);
        var poly = RunOptions.Latent(new TrainConfig { LatentSchedule = "poly", LatentPower = 3 }).CreateChain();
        Assert.Equal((GaussianScheduleKind.Poly, 3.0), (poly.Schedule.Kind, poly.Schedule.Power));
        var e = Assert.Throws<ArgumentException>(() => RunOptions.Latent(new TrainConfig { LatentSchedule = "exp" }).CreateChain());
        Assert.Contains("latent_schedule = exp", e.Message, StringComparison.Ordinal);
        var chain = new LatentChain(new GaussianSchedule());
        Assert.Contains("s < t", Assert.Throws<ArgumentOutOfRangeException>(() => chain.Ddim(0.4, 0.5)).Message, StringComparison.Ordinal);
        Assert.Contains("s < t", Assert.Throws<ArgumentOutOfRangeException>(() => chain.Ddpm(0.4, 0.4)).Message, StringComparison.Ordinal);
    }

    private static void AssertRel(double expected, double actual, double tol, string what) =>
        Assert.True(Math.Abs(actual - expected) <= tol * (1 + Math.Abs(expected)), $"{what}: {actual:R} vs {expected:R}.");
}
