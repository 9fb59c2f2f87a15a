using Lddm.Training.Data;

namespace Lddm.Training.Evaluation;

/// <summary>
/// Does a generator cover the sawtooth's latent? The exact NLL is a cross-entropy: a sampler that sharpens (always the
/// same few shifts, each drawn cleanly) can score well on it while covering little of the data. For each sequence x
/// this finds the true model's maximum-likelihood saw shift ŝ(x) = argmax_s log p(x | s), maps it to the phase
/// φ = frac(ŝ · saws) (p(x | s) has period 1/saws in s), and tests the phases against their law under the data:
/// rotating x by one position moves ŝ by 1/L, and the data are rotation-invariant, so each of the C = L / gcd(L, saws)
/// phase cells [j/C, (j+1)/C) holds exactly 1/C of the mass (uniform at cell resolution, whatever the law inside a
/// cell). χ² uses B equal bins of whole cells (B divides C, B ≤ 16, ≥ 5 expected per bin); KS compares the empirical
/// CDF with the uniform one at the cell boundaries (conservative p-value: the supremum over a subset).
/// </summary>
public sealed class SawtoothCoverage
{
    private readonly BinarySawtooth _saw;
    private readonly double[] _pieces; // breakpoints of every pᵢ within one period [0, 1/saws], sorted, with both ends
    private readonly double[] _slope;     // [piece, i]: pᵢ(s) = _intercept + _slope·s on the piece
    private readonly double[] _intercept;

    public SawtoothCoverage(BinarySawtooth saw)
    {
        ArgumentNullException.ThrowIfNull(saw);
        _saw = saw;
        var c = saw.Config;
        Cells = c.Length / (int)Gcd(c.Length, c.NumSaws);
        double period = 1.0 / c.NumSaws;
        var points = new SortedSet<double> { 0.0, period };
        // pᵢ has a kink where (i/L + s)·saws mod 1 ∈ {0, ½}, i.e. s ≡ k/(2·saws) − i/L (mod 1/saws).
        for (int i = 0; i < c.Length; i++)
        {
            for (int k = 0; k < 2; k++)
            {
                double s = (k / (2.0 * c.NumSaws)) - ((double)i / c.Length);
                s -= Math.Floor(s / period) * period;
                points.Add(Math.Min(s, period));
            }
        }
        var kept = new List<double>();
        foreach (double p in points)
        {
            if (kept.Count == 0 || p - kept[^1] > 1e-15)
            {
                kept.Add(p);
            }
        }
        kept[^1] = period;
        _pieces = [.. kept];
        // On each piece pᵢ(s) = interceptᵢ + slopeᵢ·s: tri rises (v < ½) or falls in v = frac((i/L + s)·saws).
        int l = c.Length, pieces = _pieces.Length - 1;
        double gain = (1 - 2 * c.Scale) * 2 * c.NumSaws;
        _slope = new double[pieces * l];
        _intercept = new double[pieces * l];
        for (int j = 0; j < pieces; j++)
        {
            double mid = 0.5 * (_pieces[j] + _pieces[j + 1]);
            for (int i = 0; i < l; i++)
            {
                double v = ((double)i / l + mid) * c.NumSaws;
                v -= Math.Floor(v);
                double slope = v < 0.5 ? gain : -gain;
                _slope[j * l + i] = slope;
                _intercept[j * l + i] = saw.Probability(i, mid) - slope * mid;
            }
        }
    }

    /// <summary>C, the number of phase cells of equal mass under the data.</summary>
    public int Cells { get; }

    /// <summary>False when the shift is not identifiable (scale = ½: every pᵢ is ½).</summary>
    public bool Identifiable => _saw.Config.Scale < 0.5;

    /// <summary>
    /// ŝ(x) ∈ [0, 1/saws): the maximiser of log p(x | s) over one period (the smallest one on exact ties). On each piece
    /// between kinks every pᵢ is linear in s, so f(s) = log p(x | s) is concave there: its maximum is at an end or at the
    /// root of f′ (safeguarded Newton to 1e-13). f and f′ are computed at every kink; a piece is searched only when
    /// its tangent bounds can beat the best value found so far.
    /// </summary>
    public double MaxLikelihoodShift(ReadOnlySpan<int> x)
    {
        int l = _saw.Length;
        if (x.Length != l)
        {
            throw new ArgumentException($"Sequence has length {x.Length}; the sawtooth length L is {l}.", nameof(x));
        }
        int pieces = _pieces.Length - 1;
        Span<double> fa = pieces <= 4096 ? stackalloc double[pieces + 1] : new double[pieces + 1];
        Span<double> da = pieces <= 4096 ? stackalloc double[pieces] : new double[pieces];
        Span<double> db = pieces <= 4096 ? stackalloc double[pieces] : new double[pieces];
        for (int j = 0; j < pieces; j++)
        {
            (fa[j], da[j]) = ValueAndSlope(x, j, _pieces[j]);
            db[j] = ValueAndSlope(x, j, _pieces[j + 1]).Slope;
        }
        fa[pieces] = fa[0]; // f is continuous and 1/saws-periodic
        double best = double.NegativeInfinity, bestS = 0;
        for (int j = 0; j < pieces; j++)
        {
            if (fa[j] > best)
            {
                (best, bestS) = (fa[j], _pieces[j]);
            }
        }
        for (int j = 0; j < pieces; j++)
        {
            double a = _pieces[j], b = _pieces[j + 1], w = b - a;
            if (da[j] <= 0 || db[j] >= 0)
            {
                continue; // the maximum on the piece is at an end, already counted
            }
            // Concave: f ≤ f(a) + f′(a)(s − a) and f ≤ f(b) + f′(b)(s − b) on the piece.
            if (Math.Min(fa[j] + da[j] * w, fa[j + 1] - db[j] * w) <= best)
            {
                continue;
            }
            double lo = a, hi = b, s = a + w * da[j] / (da[j] - db[j]); // secant start
            for (int it = 0; it < 100 && hi - lo > 1e-13; it++)
            {
                var (g, h) = SlopeAndCurvature(x, j, s);
                if (Math.Abs(g) < 1e-12)
                {
                    break; // s is the root
                }
                if (g > 0)
                {
                    lo = s;
                }
                else
                {
                    hi = s;
                }
                double next = h < 0 ? s - g / h : double.NaN;
                s = next > lo && next < hi ? next : 0.5 * (lo + hi);
            }
            double f = ValueAndSlope(x, j, s).Value;
            if (f > best)
            {
                (best, bestS) = (f, s);
            }
        }
        return bestS >= 1.0 / _saw.Config.NumSaws ? 0 : bestS;
    }

    /// <summary>f(s) and f′(s) with every pᵢ taken as the linear form of piece <paramref name="piece"/>.</summary>
    private (double Value, double Slope) ValueAndSlope(ReadOnlySpan<int> x, int piece, double s)
    {
        int l = x.Length, row = piece * l;
        double f = 0, g = 0;
        for (int i = 0; i < l; i++)
        {
            double beta = _slope[row + i], p = _intercept[row + i] + beta * s;
            (f, g) = x[i] == 1 ? (f + Math.Log(p), g + beta / p) : (f + Math.Log(1 - p), g - beta / (1 - p));
        }
        return (f, g);
    }

    /// <summary>f′(s) and f″(s) on piece <paramref name="piece"/> (no logarithms).</summary>
    private (double Slope, double Curvature) SlopeAndCurvature(ReadOnlySpan<int> x, int piece, double s)
    {
        int l = x.Length, row = piece * l;
        double g = 0, h = 0;
        for (int i = 0; i < l; i++)
        {
            double beta = _slope[row + i], p = _intercept[row + i] + beta * s, r = x[i] == 1 ? beta / p : -beta / (1 - p);
            g += r;
            h -= r * r;
        }
        return (g, h);
    }

    /// <summary>φ = frac(ŝ · saws) ∈ [0, 1) of every sequence in a row-major [n, L] block (in parallel).</summary>
    public double[] Phases(int[] tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        int l = _saw.Length, n = tokens.Length / l;
        var phases = new double[n];
        Parallel.For(0, n, i =>
        {
            double phi = MaxLikelihoodShift(tokens.AsSpan(i * l, l)) * _saw.Config.NumSaws;
            phases[i] = phi - Math.Floor(phi);
        });
        return phases;
    }

    /// <summary>χ² and KS of the phases against their law under the data; NaN when the shift is not identifiable.</summary>
    public CoverageTest Test(IReadOnlyList<double> phases)
    {
        ArgumentNullException.ThrowIfNull(phases);
        int n = phases.Count, bins = Bins(Cells, n);
        if (!Identifiable || bins < 2)
        {
            return new CoverageTest(double.NaN, 0, double.NaN, double.NaN, double.NaN, n);
        }
        var counts = new long[bins];
        var cells = new long[Cells];
        foreach (double phi in phases)
        {
            // The likelihood's kinks sit on cell boundaries, so ŝ is often exactly on one: snap within 1e-9 to the cell
            // that starts there (1 ≡ 0), the same for every boundary, so rounding cannot favour some cells.
            int cell = (int)Math.Floor(phi * Cells + 1e-9) % Cells;
            cells[cell]++;
            counts[cell / (Cells / bins)]++;
        }
        double expected = (double)n / bins, chi2 = counts.Sum(o => (o - expected) * (o - expected) / expected);
        double d = 0, cumulative = 0;
        for (int j = 0; j + 1 < Cells; j++)
        {
            cumulative += cells[j];
            d = Math.Max(d, Math.Abs(cumulative / n - (double)(j + 1) / Cells));
        }
        double sqrtN = Math.Sqrt(n);
        return new CoverageTest(chi2, bins - 1, Statistics.ChiSquareSurvival(chi2, bins - 1), d,
            Statistics.KolmogorovSurvival((sqrtN + 0.12 + 0.11 / sqrtN) * d), n);
    }

    /// <summary>B: the largest divisor of C that is ≤ 16 and leaves ≥ 5 expected counts per bin.</summary>
    public static int Bins(int cells, int count)
    {
        int max = Math.Min(16, count / 5);
        for (int b = Math.Min(max, cells); b >= 1; b--)
        {
            if (cells % b == 0)
            {
                return b;
            }
        }
        return 1;
    }

    private static long Gcd(long a, long b) => b == 0 ? a : Gcd(b, a % b);
}

/// <summary>
/// The coverage of the saw phase by n sequences: Pearson χ² over <c>Dof + 1</c> equal-mass bins with its p-value, and
/// the KS distance at the cell boundaries with its (conservative) asymptotic p-value. Small p: not the data's law.
/// </summary>
public readonly record struct CoverageTest(double ChiSquare, int Dof, double ChiSquareP, double Ks, double KsP, int Count);

/// <summary>Distribution functions and a spread estimate the coverage metric needs, in float64.</summary>
public static class Statistics
{
    /// <summary>P(χ²_k ≥ x) = Q(k/2, x/2), the regularised upper incomplete gamma function.</summary>
    public static double ChiSquareSurvival(double x, int dof)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dof, 1);
        return double.IsNaN(x) ? double.NaN : x <= 0 ? 1 : UpperGammaRegularized(dof / 2.0, x / 2);
    }

    /// <summary>Q(a, x) = Γ(a, x)/Γ(a): the series of P below a + 1, Lentz's continued fraction above.</summary>
    public static double UpperGammaRegularized(double a, double x)
    {
        double logPrefix = a * Math.Log(x) - x - LogGamma(a);
        if (x < a + 1)
        {
            double term = 1 / a, sum = term;
            for (int n = 1; n < 10_000 && Math.Abs(term) > Math.Abs(sum) * 1e-16; n++)
            {
                term *= x / (a + n);
                sum += term;
            }
            return Math.Max(0, 1 - Math.Exp(logPrefix) * sum);
        }
        const double tiny = 1e-300;
        double bb = x + 1 - a, c = 1 / tiny, d = 1 / bb, h = d;
        for (int i = 1; i < 10_000; i++)
        {
            double an = -i * (i - a);
            bb += 2;
            d = an * d + bb;
            d = Math.Abs(d) < tiny ? tiny : d;
            c = bb + an / c;
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < 1e-16)
            {
                break;
            }
        }
        return Math.Exp(logPrefix) * h;
    }

    /// <summary>log Γ(x) for x &gt; 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15).</summary>
    public static double LogGamma(double x)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(x);
        if (x < 0.5)
        {
            return Math.Log(Math.PI / Math.Sin(Math.PI * x)) - LogGamma(1 - x); // reflection
        }
        ReadOnlySpan<double> g =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        x -= 1;
        double sum = g[0], t = x + 7.5;
        for (int i = 1; i < g.Length; i++)
        {
            sum += g[i] / (x + i);
        }
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }

    /// <summary>The Kolmogorov distribution's survival Q(λ) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²} (the theta form below λ = 1).</summary>
    public static double KolmogorovSurvival(double lambda)
    {
        if (double.IsNaN(lambda))
        {
            return double.NaN;
        }
        if (lambda <= 0)
        {
            return 1;
        }
        if (lambda < 1)
        {
            // 1 − Q = (√(2π)/λ) Σ_{k≥1} e^{−(2k−1)²π²/(8λ²)}
            double s = 0;
            for (int k = 1; k < 100; k++)
            {
                double e = Math.Exp(-(2 * k - 1) * (2 * k - 1) * Math.PI * Math.PI / (8 * lambda * lambda));
                s += e;
                if (e < 1e-18)
                {
                    break;
                }
            }
            return Math.Clamp(1 - Math.Sqrt(2 * Math.PI) / lambda * s, 0, 1);
        }
        double q = 0;
        for (int k = 1; k < 100; k++)
        {
            double e = Math.Exp(-2.0 * k * k * lambda * lambda);
            q += (k % 2 == 1 ? 2 : -2) * e;
            if (e < 1e-18)
            {
                break;
            }
        }
        return Math.Clamp(q, 0, 1);
    }

    /// <summary>
    /// The sample standard deviation and its standard error by the delta method, SE ≈ √((m₄ − m₂²)/n) / (2·SD) with
    /// central moments m₂, m₄ (no normality assumed).
    /// </summary>
    public static Estimate StandardDeviation(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        int n = values.Count;
        if (n < 2)
        {
            throw new ArgumentException($"A standard deviation needs at least two values, got {n}.", nameof(values));
        }
        double mean = values.Average();
        double m2 = values.Sum(v => (v - mean) * (v - mean)) / n, m4 = values.Sum(v => Math.Pow(v - mean, 4)) / n;
        double sd = Math.Sqrt(m2 * n / (n - 1));
        double se = sd > 0 ? Math.Sqrt(Math.Max(m4 - m2 * m2, 0) / n) / (2 * sd) : 0;
        return new Estimate(sd, se, n);
    }
}
