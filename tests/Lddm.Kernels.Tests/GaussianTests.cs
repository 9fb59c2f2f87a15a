using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Lddm.Kernels.Tests;

public sealed class GaussianTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void GaussianNoise_matches_the_reference_and_its_eps_is_FillNormal_bit_for_bit(SmallDim dim, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(4), n = batch * dim;
        var (s, stream, offset) = RandomKey(rng);
        var y0 = Numerics.RandomFloats(rng, n, 2f);
        var abar = Positive(rng, batch);
        var sbar = Positive(rng, batch);
        var (eEps, eYt) = GaussianReference.Noise(y0, abar, sbar, batch, dim, s, stream, offset);
        foreach (var backend in TestBackends.All)
        {
            string ctx = $"GaussianNoise on {backend.Name}, seed {seed}, (batch {batch}, dim {dim}), offset {offset}";
            using var by0 = backend.Upload<float>(y0);
            using var ba = backend.Upload<float>(abar);
            using var bs = backend.Upload<float>(sbar);
            using var eps = Numerics.Poisoned(backend, n);
            using var yt = Numerics.Poisoned(backend, n);
            using var fill = Numerics.Poisoned(backend, n);
            backend.GaussianNoise(by0, ba, bs, batch, dim, s, stream, offset, eps, yt);
            backend.FillNormal(s, stream, offset, fill);
            AssertBits(fill.ToArray(), eps.ToArray(), ctx + ", eps vs FillNormal");
            Numerics.AssertClose(eEps, eps.ToArray(), 1e-6, ctx + ", eps");
            Numerics.AssertClose(eYt, yt.ToArray(), 1e-6, ctx + ", yt");
        }
    }

    [Property(MaxTest = 8)]
    public void GaussianNoise_has_mean_abar_y0_and_variance_sbar_squared_within_a_few_standard_errors(int seed)
    {
        // Each row holds one y0 value repeated, so a row's n samples of y_t are i.i.d. N(abar·y0, sbar²).
        var rng = new Random(seed);
        const int batch = 3, dim = 2048;
        var (s, stream, offset) = RandomKey(rng);
        var value = Numerics.RandomFloats(rng, batch, 3f);
        var y0 = new float[batch * dim];
        for (int i = 0; i < y0.Length; i++)
        {
            y0[i] = value[i / dim];
        }
        var abar = Positive(rng, batch);
        var sbar = Positive(rng, batch);
        foreach (var backend in TestBackends.All)
        {
            using var by0 = backend.Upload<float>(y0);
            using var ba = backend.Upload<float>(abar);
            using var bs = backend.Upload<float>(sbar);
            using var eps = Numerics.Poisoned(backend, y0.Length);
            using var yt = Numerics.Poisoned(backend, y0.Length);
            backend.GaussianNoise(by0, ba, bs, batch, dim, s, stream, offset, eps, yt);
            var y = yt.ToArray();
            for (int b = 0; b < batch; b++)
            {
                double mean = 0, sq = 0;
                for (int j = 0; j < dim; j++)
                {
                    mean += y[b * dim + j];
                }
                mean /= dim;
                for (int j = 0; j < dim; j++)
                {
                    sq += (y[b * dim + j] - mean) * (y[b * dim + j] - mean);
                }
                double variance = sq / (dim - 1), sigma2 = (double)sbar[b] * sbar[b];
                double meanSe = sbar[b] / Math.Sqrt(dim), varSe = sigma2 * Math.Sqrt(2.0 / (dim - 1));
                string ctx = $"{backend.Name}, seed {seed}, row {b}: abar {abar[b]}, sbar {sbar[b]}, y0 {value[b]}";
                Assert.True(Math.Abs(mean - (double)abar[b] * value[b]) <= 5 * meanSe,
                    $"{ctx}: mean {mean} vs abar·y0 {(double)abar[b] * value[b]} (5 SE = {5 * meanSe})");
                Assert.True(Math.Abs(variance - sigma2) <= 5 * varSe,
                    $"{ctx}: variance {variance} vs sbar² {sigma2} (5 SE = {5 * varSe})");
            }
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void GaussianDdpmStep_matches_the_reference_and_the_closed_form_with_FillNormal_noise(SmallDim dim, bool inPlace, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(4), n = batch * dim;
        var (s, stream, offset) = RandomKey(rng);
        var yt = Numerics.RandomFloats(rng, n, 2f);
        var y0Hat = Numerics.RandomFloats(rng, n);
        var cYt = Numerics.RandomFloats(rng, batch);
        var cY0 = Numerics.RandomFloats(rng, batch);
        var sigma = Positive(rng, batch);
        var expected = GaussianReference.DdpmStep(yt, y0Hat, cYt, cY0, sigma, batch, dim, s, stream, offset);
        foreach (var backend in TestBackends.All)
        {
            string ctx = $"GaussianDdpmStep on {backend.Name}, seed {seed}, (batch {batch}, dim {dim}), in place {inPlace}";
            using var byt = backend.Upload<float>(yt);
            using var by0 = backend.Upload<float>(y0Hat);
            using var bcyt = backend.Upload<float>(cYt);
            using var bcy0 = backend.Upload<float>(cY0);
            using var bsig = backend.Upload<float>(sigma);
            using var poisoned = Numerics.Poisoned(backend, n);
            using var z = Numerics.Poisoned(backend, n);
            var ys = inPlace ? byt : poisoned;
            backend.GaussianDdpmStep(byt, by0, bcyt, bcy0, bsig, batch, dim, s, stream, offset, ys);
            backend.FillNormal(s, stream, offset, z);
            var zv = z.ToArray();
            var closed = new double[n];
            for (int i = 0; i < n; i++)
            {
                int b = i / dim;
                closed[i] = (double)cYt[b] * yt[i] + (double)cY0[b] * y0Hat[i] + (double)sigma[b] * zv[i];
            }
            var actual = ys.ToArray();
            Numerics.AssertClose(expected, actual, 1e-6, ctx + ", vs reference");
            Numerics.AssertClose(closed, actual, 1e-6, ctx + ", vs closed form with FillNormal's z");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void GaussianDdimStep_matches_the_reference_is_deterministic_and_inverts_itself(SmallDim dim, bool inPlace, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(4), n = batch * dim;
        var y0 = Numerics.RandomFloats(rng, n, 2f);
        var eps = Numerics.RandomFloats(rng, n, 2f);
        var (abarT, sbarT, abarS, sbarS) = (Positive(rng, batch), Positive(rng, batch), Positive(rng, batch), Positive(rng, batch));
        var ytF = new float[n];
        var ysExact = new double[n];
        var ytExact = new double[n];
        for (int i = 0; i < n; i++)
        {
            int b = i / dim;
            ytF[i] = abarT[b] * y0[i] + sbarT[b] * eps[i];
            ytExact[i] = ytF[i];
            // The exact DDIM image of the float y_t: eps recovered from y_t is eps up to y_t's rounding.
            double epsT = (ytF[i] - (double)abarT[b] * y0[i]) / sbarT[b];
            ysExact[i] = (double)abarS[b] * y0[i] + (double)sbarS[b] * epsT;
        }
        var reference = GaussianReference.DdimStep(ytF, y0, abarT, sbarT, abarS, sbarS, batch, dim);
        // (1 + σ̄_s/σ̄_t)-fold amplification of float rounding, both ways.
        double tol = 4e-6 * (1 + Ratio(sbarS, sbarT)) * (1 + Ratio(sbarT, sbarS));
        foreach (var backend in TestBackends.All)
        {
            string ctx = $"GaussianDdimStep on {backend.Name}, seed {seed}, (batch {batch}, dim {dim}), in place {inPlace}";
            using var byt = backend.Upload<float>(ytF);
            using var by0 = backend.Upload<float>(y0);
            using var at = backend.Upload<float>(abarT);
            using var st = backend.Upload<float>(sbarT);
            using var aS = backend.Upload<float>(abarS);
            using var sS = backend.Upload<float>(sbarS);
            using var first = Numerics.Poisoned(backend, n);
            using var second = Numerics.Poisoned(backend, n);
            backend.GaussianDdimStep(byt, by0, at, st, aS, sS, batch, dim, first);
            backend.GaussianDdimStep(byt, by0, at, st, aS, sS, batch, dim, second);
            var ys = first.ToArray();
            AssertBits(ys, second.ToArray(), ctx + ", two calls");
            Numerics.AssertClose(reference, ys, 2e-6 * (1 + Ratio(sbarS, sbarT)), ctx + ", vs reference");
            Numerics.AssertClose(ysExact, ys, 2e-6 * (1 + Ratio(sbarS, sbarT)), ctx + ", t→s lands on abarS·y0 + sbarS·eps");
            using var poisoned = Numerics.Poisoned(backend, n);
            var back = inPlace ? first : poisoned;
            backend.GaussianDdimStep(first, by0, aS, sS, at, st, batch, dim, back);
            Numerics.AssertClose(ytExact, back.ToArray(), tol, ctx + ", s→t recovers y_t");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void GaussianEpsToY0_matches_the_reference_and_inverts_the_noising_given_the_true_eps(SmallDim dim, bool inPlace, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(4), n = batch * dim;
        var (s, stream, offset) = RandomKey(rng);
        var y0 = Numerics.RandomFloats(rng, n, 2f);
        var abar = Positive(rng, batch);
        var sbar = Positive(rng, batch);
        double tol = 4e-6 * (1 + Ratio(sbar, abar) * 5);
        foreach (var backend in TestBackends.All)
        {
            string ctx = $"GaussianEpsToY0 on {backend.Name}, seed {seed}, (batch {batch}, dim {dim}), in place {inPlace}";
            using var by0 = backend.Upload<float>(y0);
            using var ba = backend.Upload<float>(abar);
            using var bs = backend.Upload<float>(sbar);
            using var eps = Numerics.Poisoned(backend, n);
            using var yt = Numerics.Poisoned(backend, n);
            backend.GaussianNoise(by0, ba, bs, batch, dim, s, stream, offset, eps, yt);
            var reference = GaussianReference.EpsToY0(yt.ToArray(), eps.ToArray(), abar, sbar, batch, dim);
            using var poisoned = Numerics.Poisoned(backend, n);
            var y0Hat = inPlace ? yt : poisoned;
            backend.GaussianEpsToY0(yt, eps, ba, bs, batch, dim, y0Hat);
            var actual = y0Hat.ToArray();
            Numerics.AssertClose(reference, actual, 2e-6 * (1 + Ratio(sbar, abar)), ctx + ", vs reference");
            Numerics.AssertClose(Array.ConvertAll(y0, v => (double)v), actual, tol, ctx + ", recovers y0");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void RowScale_matches_the_reference_also_in_place(SmallDim rows, SmallDim cols, bool inPlace, int seed)
    {
        var rng = new Random(seed);
        int n = rows * cols;
        var x = Numerics.RandomFloats(rng, n);
        var scale = Numerics.RandomFloats(rng, rows, 2f);
        var expected = GaussianReference.RowScale(x, scale, rows, cols);
        foreach (var backend in TestBackends.All)
        {
            using var bx = backend.Upload<float>(x);
            using var bs = backend.Upload<float>(scale);
            using var poisoned = Numerics.Poisoned(backend, n);
            var y = inPlace ? bx : poisoned;
            backend.RowScale(bx, bs, rows, cols, y);
            Numerics.AssertClose(expected, y.ToArray(), 1e-6, $"RowScale on {backend.Name}, seed {seed}, ({rows}, {cols}), in place {inPlace}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void RowScaleBackward_accumulates_into_prefilled_gradients_like_the_reference(SmallDim rows, Dim cols, int seed)
    {
        var rng = new Random(seed);
        int n = rows * cols, mask = 1 + rng.Next(3);
        var dy = Numerics.RandomFloats(rng, n);
        var x = Numerics.RandomFloats(rng, n);
        var scale = Numerics.RandomFloats(rng, rows, 2f);
        var dx0 = Numerics.RandomFloats(rng, n);
        var ds0 = Numerics.RandomFloats(rng, rows);
        var (ex, es) = GaussianReference.RowScaleBackward(dy, x, scale, rows, cols, dx0, ds0);
        foreach (var backend in TestBackends.All)
        {
            string ctx = $"RowScaleBackward on {backend.Name}, seed {seed}, ({rows}, {cols}), grads mask {mask}";
            using var bdy = backend.Upload<float>(dy);
            using var bx = backend.Upload<float>(x);
            using var bs = backend.Upload<float>(scale);
            using var bdx = backend.Upload<float>(dx0);
            using var bds = backend.Upload<float>(ds0);
            backend.RowScaleBackward(bdy, bx, bs, rows, cols, (mask & 1) != 0 ? bdx : null, (mask & 2) != 0 ? bds : null);
            Numerics.AssertClose((mask & 1) != 0 ? ex : Widen(dx0), bdx.ToArray(), 1e-6, ctx + ", dx");
            Numerics.AssertClose((mask & 2) != 0 ? es : Widen(ds0), bds.ToArray(), Numerics.Tolerance(cols), ctx + ", dscale");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void RowL2Normalize_and_its_backward_match_the_reference_including_clamped_rows(SmallDim rows, Dim cols, bool inPlace, int seed)
    {
        var rng = new Random(seed);
        int n = rows * cols;
        var x = Numerics.RandomFloats(rng, n);
        // Some rows are zero or tiny, and ε is sometimes large, so clamped rows (‖x‖ < ε) occur.
        for (int r = 0; r < rows; r++)
        {
            int kind = rng.Next(4);
            for (int c = 0; c < cols && kind > 1; c++)
            {
                x[r * cols + c] *= kind == 2 ? 0f : 1e-3f;
            }
        }
        float epsilon = rng.Next(2) == 0 ? 1e-12f : 0.05f;
        var (ey, en) = GaussianReference.RowL2Normalize(x, rows, cols, epsilon);
        var dy = Numerics.RandomFloats(rng, n);
        var dx0 = Numerics.RandomFloats(rng, n);
        var edx = GaussianReference.RowL2NormalizeBackward(dy, x, rows, cols, epsilon, dx0);
        double tol = Numerics.Tolerance(cols);
        foreach (var backend in TestBackends.All)
        {
            string ctx = $"RowL2Normalize on {backend.Name}, seed {seed}, ({rows}, {cols}), ε {epsilon}, in place {inPlace}";
            using var bx = backend.Upload<float>(x);
            using var poisoned = Numerics.Poisoned(backend, n);
            using var norms = Numerics.Poisoned(backend, rows);
            var y = inPlace ? bx : poisoned;
            backend.RowL2Normalize(bx, rows, cols, epsilon, y, norms);
            Numerics.AssertClose(ey, y.ToArray(), tol, ctx + ", y");
            Numerics.AssertClose(en, norms.ToArray(), tol, ctx + ", norms");
            using var bdy = backend.Upload<float>(dy);
            using var bdx = backend.Upload<float>(dx0);
            backend.RowL2NormalizeBackward(bdy, y, norms, rows, cols, bdx);
            // dx carries a 1/‖x‖ factor: compare relative to the largest 1/d of the shape.
            double inv = 1 / en.Min(Math.Abs);
            Numerics.AssertClose(edx, bdx.ToArray(), tol * inv, ctx + ", dx (backward)");
        }
    }

    [Property(MaxTest = 10)]
    public void Reference_backwards_match_central_differences_of_the_reference_forwards(int seed)
    {
        var rng = new Random(seed);
        const int rows = 3, cols = 5;
        var x = Numerics.RandomFloats(rng, rows * cols);
        var scale = Numerics.RandomFloats(rng, rows, 2f);
        var w = Numerics.RandomFloats(rng, x.Length); // L = Σ w·y, so dL/dy = w
        var (gx, gs) = GaussianReference.RowScaleBackward(w, x, scale, rows, cols, new float[x.Length], new float[rows]);
        CentralDifferences(x, gx, v => Dot(w, GaussianReference.RowScale(v, scale, rows, cols)), 1e-2, 1e-6, "RowScale dx");
        CentralDifferences(scale, gs, v => Dot(w, GaussianReference.RowScale(x, v, rows, cols)), 1e-2, 1e-6, "RowScale dscale");
        // Row 1 is clamped (‖x‖ < ε = 0.1); the others are not.
        for (int c = 0; c < cols; c++)
        {
            x[cols + c] *= 0.01f;
        }
        const double epsilon = 0.1;
        var gl = GaussianReference.RowL2NormalizeBackward(w, x, rows, cols, epsilon, new float[x.Length]);
        CentralDifferences(x, gl, v => Dot(w, GaussianReference.RowL2Normalize(v, rows, cols, epsilon).Y), 1e-4, 1e-4, "RowL2Normalize dx");
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Kernels_reject_wrong_lengths_and_non_positive_sizes_naming_the_argument_and_shapes(string name)
    {
        var backend = TestBackends.Get(name);
        using var y = backend.Allocate<float>(2 * 3);
        using var v = backend.Allocate<float>(2);
        using var bad = backend.Allocate<float>(5);
        var e = Assert.Throws<ArgumentException>(() => backend.GaussianNoise(y, v, bad, 2, 3, 1, 2, 0, y, y));
        Assert.Contains("GaussianNoise: 'sbar' has 5 elements but shape (batch 2) needs 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.GaussianNoise(y, v, v, 2, 3, 1, 2, 0, bad, y));
        Assert.Contains("GaussianNoise: 'eps' has 5 elements but shape (batch 2, dim 3) needs 6", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.GaussianDdpmStep(y, bad, v, v, v, 2, 3, 1, 2, 0, y));
        Assert.Contains("GaussianDdpmStep: 'y0Hat' has 5 elements but shape (batch 2, dim 3) needs 6", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.GaussianDdimStep(y, y, v, v, bad, v, 2, 3, y));
        Assert.Contains("GaussianDdimStep: 'abarS' has 5 elements but shape (batch 2) needs 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.GaussianEpsToY0(y, y, v, v, 2, 3, bad));
        Assert.Contains("GaussianEpsToY0: 'y0Hat' has 5 elements but shape (batch 2, dim 3) needs 6", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.RowScale(y, bad, 2, 3, y));
        Assert.Contains("RowScale: 'scale' has 5 elements but shape (rows 2) needs 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.RowScaleBackward(y, y, v, 2, 3, null, bad));
        Assert.Contains("RowScaleBackward: 'dscale' has 5 elements but shape (rows 2) needs 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.RowL2Normalize(y, 2, 3, 1e-12f, y, bad));
        Assert.Contains("RowL2Normalize: 'norms' has 5 elements but shape (rows 2) needs 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.RowL2NormalizeBackward(y, bad, v, 2, 3, y));
        Assert.Contains("RowL2NormalizeBackward: 'y' has 5 elements but shape (rows 2, cols 3) needs 6", e.Message);
        var z = Assert.Throws<ArgumentOutOfRangeException>(() => backend.GaussianDdimStep(y, y, v, v, v, v, 0, 3, y));
        Assert.Contains("'batch' must be positive but was 0", z.Message);
        z = Assert.Throws<ArgumentOutOfRangeException>(() => backend.GaussianNoise(y, v, v, 2, -3, 1, 2, 0, y, y));
        Assert.Contains("'dim' must be positive but was -3", z.Message);
        z = Assert.Throws<ArgumentOutOfRangeException>(() => backend.GaussianDdpmStep(y, y, v, v, v, 2, 3, 1, 2, -1, y));
        Assert.Contains("'offset' must be non-negative but was -1", z.Message);
        z = Assert.Throws<ArgumentOutOfRangeException>(() => backend.RowScale(y, v, 2, 0, y));
        Assert.Contains("'cols' must be positive but was 0", z.Message);
        z = Assert.Throws<ArgumentOutOfRangeException>(() => backend.RowL2Normalize(y, 2, 3, 0f, y, v));
        Assert.Contains("'epsilon' must be positive but was 0", z.Message);
    }

    /// <summary>Values in [0.1, 1): the range of ᾱ, σ̄ away from the schedule's ends.</summary>
    private static float[] Positive(Random rng, int n)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            v[i] = (float)(0.1 + 0.9 * rng.NextDouble());
        }
        return v;
    }

    private static double Ratio(float[] num, float[] den)
    {
        double worst = 0;
        for (int i = 0; i < num.Length; i++)
        {
            worst = Math.Max(worst, (double)num[i] / den[i]);
        }
        return worst;
    }

    private static (ulong Seed, ulong Stream, long Offset) RandomKey(Random rng) =>
        ((ulong)rng.NextInt64(), (ulong)rng.NextInt64(), rng.Next(4) == 0 ? uint.MaxValue - rng.Next(40) : rng.NextInt64(1L << 40));

    private static void AssertBits(float[] expected, float[] actual, string context)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                throw new XunitException($"{context}: index {i}: expected {expected[i]:R}, got {actual[i]:R} (bits differ).");
            }
        }
    }

    private static double[] Widen(float[] values) => Array.ConvertAll(values, v => (double)v);

    private static double Dot(float[] w, double[] y)
    {
        double s = 0;
        for (int i = 0; i < w.Length; i++)
        {
            s += w[i] * y[i];
        }
        return s;
    }

    /// <summary>Float64 central differences of a scalar function of a float vector, compared with an analytic gradient.</summary>
    private static void CentralDifferences(float[] at, double[] gradient, Func<float[], double> f, double h, double tol, string what)
    {
        for (int i = 0; i < at.Length; i++)
        {
            var v = (float[])at.Clone();
            float x0 = v[i];
            v[i] = x0 + (float)h;
            double up = f(v);
            v[i] = x0 - (float)h;
            double down = f(v);
            double numeric = (up - down) / ((double)(x0 + (float)h) - (x0 - (float)h));
            if (Math.Abs(numeric - gradient[i]) > tol * (1 + Math.Abs(numeric)))
            {
                throw new XunitException($"{what}: index {i}: analytic {gradient[i]:R}, central difference {numeric:R}.");
            }
        }
    }
}
