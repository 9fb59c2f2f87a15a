using FsCheck.Xunit;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class LayerNormTests
{
    private const float Eps = 1e-5f;

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void Forward_matches_the_reference_with_and_without_affine(SmallDim rows, Dim cols, bool withGamma,
        bool withBeta, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            // An offset mean makes a one-pass E[x²] − E[x]² variance visibly wrong.
            var x = Numerics.RandomFloats(rng, rows * cols, 2f).Select(v => v + 10f).ToArray();
            float[]? gamma = withGamma ? Numerics.RandomFloats(rng, cols) : null;
            float[]? beta = withBeta ? Numerics.RandomFloats(rng, cols) : null;
            using var bx = backend.Upload<float>(x);
            using var bg = gamma is null ? null : backend.Upload<float>(gamma);
            using var bb = beta is null ? null : backend.Upload<float>(beta);
            using var y = Numerics.Poisoned(backend, x.Length);
            using var mean = Numerics.Poisoned(backend, rows);
            using var rstd = Numerics.Poisoned(backend, rows);
            backend.LayerNormForward(bx, bg, bb, rows, cols, Eps, y, mean, rstd);
            var e = LayerNormReference.Forward(LayerNormReference.ToDouble(x), D(gamma), D(beta), rows, cols, Eps);
            string ctx = $"LayerNormForward on {backend.Name}, seed {seed}, ({rows}, {cols}), gamma {withGamma}, beta {withBeta}";
            double tol = Numerics.Tolerance(cols);
            Numerics.AssertClose(e.Mean, mean.ToArray(), tol, ctx + ", mean");
            Numerics.AssertClose(e.Rstd, rstd.ToArray(), tol, ctx + ", rstd");
            Numerics.AssertClose(e.Y, y.ToArray(), tol, ctx + ", y");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    public void Forward_may_run_in_place(SmallDim rows, Dim cols, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var x = Numerics.RandomFloats(rng, rows * cols, 3f);
            var gamma = Numerics.RandomFloats(rng, cols);
            using var bx = backend.Upload<float>(x);
            using var bg = backend.Upload<float>(gamma);
            using var mean = backend.Allocate<float>(rows);
            using var rstd = backend.Allocate<float>(rows);
            backend.LayerNormForward(bx, bg, bg, rows, cols, Eps, bx, mean, rstd);
            var e = LayerNormReference.Forward(LayerNormReference.ToDouble(x), D(gamma), D(gamma), rows, cols, Eps);
            Numerics.AssertClose(e.Y, bx.ToArray(), Numerics.Tolerance(cols),
                $"in-place LayerNormForward on {backend.Name}, seed {seed}, ({rows}, {cols})");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void Backward_accumulates_dx_dgamma_dbeta_like_the_reference(SmallDim rows, Dim cols, bool withGamma,
        bool withParamGrads, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int n = rows * cols;
            var x = Numerics.RandomFloats(rng, n, 2f);
            float[]? gamma = withGamma ? Numerics.RandomFloats(rng, cols) : null;
            var dy = Numerics.RandomFloats(rng, n);
            var dx0 = Numerics.RandomFloats(rng, n);
            var dg0 = Numerics.RandomFloats(rng, cols);
            var db0 = Numerics.RandomFloats(rng, cols);
            var fwd = LayerNormReference.Forward(LayerNormReference.ToDouble(x), D(gamma), null, rows, cols, Eps);
            var mean = fwd.Mean.Select(v => (float)v).ToArray();
            var rstd = fwd.Rstd.Select(v => (float)v).ToArray();
            using var bx = backend.Upload<float>(x);
            using var bg = gamma is null ? null : backend.Upload<float>(gamma);
            using var bm = backend.Upload<float>(mean);
            using var br = backend.Upload<float>(rstd);
            using var bdy = backend.Upload<float>(dy);
            using var bdx = backend.Upload<float>(dx0);
            using var bdg = withParamGrads ? backend.Upload<float>(dg0) : null;
            using var bdb = withParamGrads ? backend.Upload<float>(db0) : null;
            backend.LayerNormBackward(bx, bg, bm, br, bdy, rows, cols, bdx, bdg, bdb);
            var (ex, eg, eb) = LayerNormReference.Backward(LayerNormReference.ToDouble(x), D(gamma),
                LayerNormReference.ToDouble(mean), LayerNormReference.ToDouble(rstd), LayerNormReference.ToDouble(dy), rows, cols);
            string ctx = $"LayerNormBackward on {backend.Name}, seed {seed}, ({rows}, {cols}), gamma {withGamma}";
            Numerics.AssertClose(Plus(ex, dx0), bdx.ToArray(), Numerics.Tolerance(cols), ctx + ", dx");
            if (withParamGrads)
            {
                Numerics.AssertClose(Plus(eg, dg0), bdg!.ToArray(), Numerics.Tolerance(rows), ctx + ", dgamma");
                Numerics.AssertClose(Plus(eb, db0), bdb!.ToArray(), Numerics.Tolerance(rows), ctx + ", dbeta");
            }
        }
    }

    /// <summary>
    /// The ILGPU forward and dx kernels read and write rows (and γ, β) as 16-byte quads when cols % 4 = 0 and every view
    /// they touch that way starts on a quad (<see cref="IlgpuBackend.LastRowQuad"/>), else float by float. Both paths
    /// at 64, 65, 1,024 and 1,027 columns with views at aligned (0, 4) and unaligned (1–3: arena slices) offsets, γ and
    /// β present or absent (−1), outputs poisoned with NaN (dx: accumulated into random values), nothing written
    /// outside the views.
    /// </summary>
    [Theory]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(1024)]
    [InlineData(1027)]
    public void Ilgpu_quad_and_float_paths_match_the_reference_at_any_column_count_and_view_offset(int cols)
    {
        var backend = TestBackends.IlgpuCpu;
        const int rows = 3;
        // (x, y, γ, β) offsets; −1: absent.
        int[][] forward = [[0, 0, 0, 0], [4, 4, 0, 4], [1, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 3], [0, 1, -1, -1], [4, 4, -1, -1]];
        foreach (var off in forward)
        {
            int quad = cols % 4 == 0 && off.All(o => o % 4 == 0 || o < 0) ? 1 : 0;
            var rng = new Random(cols * 7 + off.Sum());
            var x = Numerics.RandomFloats(rng, rows * cols, 2f).Select(v => v + 10f).ToArray();
            float[]? gamma = off[2] >= 0 ? Numerics.RandomFloats(rng, cols) : null;
            float[]? beta = off[3] >= 0 ? Numerics.RandomFloats(rng, cols) : null;
            using var bx = new SlicedBuffer(backend, x, off[0]);
            using var by = new SlicedBuffer(backend, Enumerable.Repeat(float.NaN, x.Length).ToArray(), off[1]);
            using var bg = gamma is null ? null : new SlicedBuffer(backend, gamma, off[2]);
            using var bb = beta is null ? null : new SlicedBuffer(backend, beta, off[3]);
            using var mean = Numerics.Poisoned(backend, rows);
            using var rstd = Numerics.Poisoned(backend, rows);
            string ctx = $"LayerNormForward on {backend.Name}, cols {cols}, offsets (x, y, gamma, beta) ({string.Join(", ", off)})";
            backend.LayerNormForward(bx.View, bg?.View, bb?.View, rows, cols, Eps, by.View, mean, rstd);
            Assert.True(quad == IlgpuBackend.LastRowQuad, $"{ctx}: quad flag {IlgpuBackend.LastRowQuad}, expected {quad}");
            var e = LayerNormReference.Forward(LayerNormReference.ToDouble(x), D(gamma), D(beta), rows, cols, Eps);
            double tol = Numerics.Tolerance(cols);
            Numerics.AssertClose(e.Mean, mean.ToArray(), tol, ctx + ", mean");
            Numerics.AssertClose(e.Rstd, rstd.ToArray(), tol, ctx + ", rstd");
            Numerics.AssertClose(e.Y, by.View.ToArray(), tol, ctx + ", y");
            by.AssertGuardsIntact(ctx);
        }
        // (x, γ, dy, dx) offsets; −1: absent.
        int[][] backward = [[0, 0, 0, 0], [4, 0, 4, 4], [1, 1, 1, 1], [0, 0, 0, 2], [0, 3, 0, 0], [0, -1, 0, 0], [0, -1, 1, 0]];
        foreach (var off in backward)
        {
            int quad = cols % 4 == 0 && off.All(o => o % 4 == 0 || o < 0) ? 1 : 0;
            var rng = new Random(cols * 11 + off.Sum());
            var x = Numerics.RandomFloats(rng, rows * cols, 2f);
            float[]? gamma = off[1] >= 0 ? Numerics.RandomFloats(rng, cols) : null;
            var dy = Numerics.RandomFloats(rng, x.Length);
            var dx0 = Numerics.RandomFloats(rng, x.Length);
            var fwd = LayerNormReference.Forward(LayerNormReference.ToDouble(x), D(gamma), null, rows, cols, Eps);
            var mean = fwd.Mean.Select(v => (float)v).ToArray();
            var rstd = fwd.Rstd.Select(v => (float)v).ToArray();
            using var bx = new SlicedBuffer(backend, x, off[0]);
            using var bg = gamma is null ? null : new SlicedBuffer(backend, gamma, off[1]);
            using var bdy = new SlicedBuffer(backend, dy, off[2]);
            using var bdx = new SlicedBuffer(backend, dx0, off[3]);
            using var bm = backend.Upload<float>(mean);
            using var br = backend.Upload<float>(rstd);
            string ctx = $"LayerNormBackward on {backend.Name}, cols {cols}, offsets (x, gamma, dy, dx) ({string.Join(", ", off)})";
            backend.LayerNormBackward(bx.View, bg?.View, bm, br, bdy.View, rows, cols, bdx.View, null, null);
            Assert.True(quad == IlgpuBackend.LastRowQuad, $"{ctx}: quad flag {IlgpuBackend.LastRowQuad}, expected {quad}");
            var (ex, _, _) = LayerNormReference.Backward(LayerNormReference.ToDouble(x), D(gamma),
                LayerNormReference.ToDouble(mean), LayerNormReference.ToDouble(rstd), LayerNormReference.ToDouble(dy), rows, cols);
            Numerics.AssertClose(Plus(ex, dx0), bdx.View.ToArray(), Numerics.Tolerance(cols), ctx + ", dx");
            bdx.AssertGuardsIntact(ctx);
        }
    }

    [Property(MaxTest = 10)]
    public void Reference_backward_matches_central_differences_of_the_reference_forward(int seed)
    {
        var rng = new Random(seed);
        const int rows = 3, cols = 6;
        const double h = 1e-6, eps = 1e-3;
        double[] x = Doubles(rng, rows * cols), gamma = Doubles(rng, cols), beta = Doubles(rng, cols), w = Doubles(rng, rows * cols);
        double Loss() => LayerNormReference.Forward(x, gamma, beta, rows, cols, eps).Y.Zip(w, (a, b) => a * b).Sum();
        var f = LayerNormReference.Forward(x, gamma, beta, rows, cols, eps);
        var (dx, dg, db) = LayerNormReference.Backward(x, gamma, f.Mean, f.Rstd, w, rows, cols);
        CheckFd("dx", x, dx);
        CheckFd("dgamma", gamma, dg);
        CheckFd("dbeta", beta, db);

        void CheckFd(string name, double[] p, double[] analytic)
        {
            for (int i = 0; i < p.Length; i++)
            {
                double keep = p[i];
                p[i] = keep + h;
                double up = Loss();
                p[i] = keep - h;
                double down = Loss();
                p[i] = keep;
                double fd = (up - down) / (2 * h);
                Assert.True(Math.Abs(fd - analytic[i]) <= 1e-6 * (1 + Math.Abs(fd)),
                    $"{name}[{i}], seed {seed}: analytic {analytic[i]}, finite difference {fd}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Kernels_reject_wrong_lengths_naming_argument_and_shape(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(12);
        using var c4 = backend.Allocate<float>(4);
        using var r3 = backend.Allocate<float>(3);
        using var bad = backend.Allocate<float>(5);
        var e = Assert.Throws<ArgumentException>(() => backend.LayerNormForward(x, bad, null, 3, 4, Eps, x, r3, r3));
        Assert.Contains("'gamma' has 5", e.Message);
        Assert.Contains("(4)", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.LayerNormForward(x, c4, c4, 3, 4, Eps, x, bad, r3));
        Assert.Contains("'mean' has 5", e.Message);
        Assert.Contains("(3)", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.LayerNormForward(x, null, null, 3, 4, Eps, bad, r3, r3));
        Assert.Contains("'y' has 5", e.Message);
        Assert.Contains("(3, 4)", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.LayerNormBackward(x, null, r3, r3, x, 3, 4, x, null, bad));
        Assert.Contains("'dbeta' has 5", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.LayerNormBackward(x, null, r3, bad, x, 3, 4, x, null, null));
        Assert.Contains("'rstd' has 5", e.Message);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Kernels_reject_non_positive_epsilon_and_sizes(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(4);
        using var r1 = backend.Allocate<float>(1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.LayerNormForward(x, null, null, 1, 4, 0f, x, r1, r1));
        Assert.Contains("'epsilon' must be positive", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.LayerNormForward(x, null, null, 1, 4, -1e-5f, x, r1, r1));
        Assert.Contains("'epsilon'", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.LayerNormForward(x, null, null, 4, 0, Eps, x, r1, r1));
        Assert.Contains("'cols' must be positive", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.LayerNormBackward(x, null, r1, r1, x, 0, 4, x, null, null));
        Assert.Contains("'rows' must be positive", e.Message);
    }

    private static double[]? D(float[]? v) => v is null ? null : LayerNormReference.ToDouble(v);

    private static double[] Plus(double[] a, float[] b) => a.Select((v, i) => v + b[i]).ToArray();

    private static double[] Doubles(Random rng, int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
}
