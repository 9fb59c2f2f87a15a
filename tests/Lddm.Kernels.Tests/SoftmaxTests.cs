using FsCheck.Xunit;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Lddm.Kernels.Tests;

public sealed class SoftmaxTests
{
    private static readonly int[] s_cols = [1, 2, 7, 16, 17, 33, 65, 129];

    /// <summary>Random logits in [−4, 4]; with <paramref name="holes"/>, some entries −∞ and row 0 entirely −∞.</summary>
    private static float[] Logits(Random rng, int rows, int cols, bool holes)
    {
        var x = Numerics.RandomFloats(rng, rows * cols, 4f);
        if (holes)
        {
            for (int i = 0; i < x.Length; i++)
            {
                if (i < cols || rng.Next(4) == 0)
                {
                    x[i] = float.NegativeInfinity;
                }
            }
        }
        return x;
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void SoftmaxForward_matches_the_reference_with_minus_infinity_entries(SmallDim anyRows, Dim cols, bool holes, int seed)
    {
        foreach (var backend in TestBackends.AllAndNoShuffles)
        {
            int rows = SimulatorRows(backend, anyRows);
            var x = Logits(new Random(seed), rows, cols, holes);
            using var dx = backend.Upload<float>(x);
            using var dy = Numerics.Poisoned(backend, x.Length);
            backend.SoftmaxForward(dx, rows, cols, dy);
            Numerics.AssertClose(SoftmaxReference.Softmax(x, rows, cols), dy.ToArray(), Numerics.Tolerance(cols),
                $"SoftmaxForward on {backend.Name}, seed {seed}, (rows {rows}, cols {cols}), holes {holes}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void LogSoftmaxForward_matches_the_reference_with_minus_infinity_entries(SmallDim anyRows, Dim cols, bool holes, int seed)
    {
        foreach (var backend in TestBackends.AllAndNoShuffles)
        {
            int rows = SimulatorRows(backend, anyRows);
            var x = Logits(new Random(seed), rows, cols, holes);
            using var dx = backend.Upload<float>(x);
            using var dy = Numerics.Poisoned(backend, x.Length);
            backend.LogSoftmaxForward(dx, rows, cols, dy);
            string context = $"LogSoftmaxForward on {backend.Name}, seed {seed}, (rows {rows}, cols {cols}), holes {holes}";
            var expected = SoftmaxReference.LogSoftmax(x, rows, cols);
            var actual = dy.ToArray();
            AssertMinusInfinityMatches(expected, actual, context);
            Numerics.AssertClose(expected, actual, Numerics.Tolerance(cols, 4e-6), context);
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void SoftmaxBackward_accumulates_the_reference_gradient(SmallDim anyRows, Dim cols, int seed)
    {
        foreach (var backend in TestBackends.AllAndNoShuffles)
        {
            int rows = SimulatorRows(backend, anyRows);
            var rng = new Random(seed);
            var y = SoftmaxReference.Softmax(Logits(rng, rows, cols, holes: false), rows, cols);
            var yf = y.Select(v => (float)v).ToArray();
            var dy = Numerics.RandomFloats(rng, y.Length);
            var dx = Numerics.RandomFloats(rng, y.Length);
            using var by = backend.Upload<float>(yf);
            using var bdy = backend.Upload<float>(dy);
            using var bdx = backend.Upload<float>(dx);
            backend.SoftmaxBackward(by, bdy, rows, cols, bdx);
            Numerics.AssertClose(SoftmaxReference.SoftmaxBackward(yf.Select(v => (double)v).ToArray(), dy, dx, rows, cols),
                bdx.ToArray(), Numerics.Tolerance(cols), $"SoftmaxBackward on {backend.Name}, seed {seed}, (rows {rows}, cols {cols})");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void LogSoftmaxBackward_accumulates_the_reference_gradient(SmallDim anyRows, Dim cols, int seed)
    {
        foreach (var backend in TestBackends.AllAndNoShuffles)
        {
            int rows = SimulatorRows(backend, anyRows);
            var rng = new Random(seed);
            var yf = SoftmaxReference.LogSoftmax(Logits(rng, rows, cols, holes: false), rows, cols).Select(v => (float)v).ToArray();
            var dy = Numerics.RandomFloats(rng, yf.Length);
            var dx = Numerics.RandomFloats(rng, yf.Length);
            using var by = backend.Upload<float>(yf);
            using var bdy = backend.Upload<float>(dy);
            using var bdx = backend.Upload<float>(dx);
            backend.LogSoftmaxBackward(by, bdy, rows, cols, bdx);
            Numerics.AssertClose(SoftmaxReference.LogSoftmaxBackward(yf.Select(v => (double)v).ToArray(), dy, dx, rows, cols),
                bdx.ToArray(), Numerics.Tolerance(cols), $"LogSoftmaxBackward on {backend.Name}, seed {seed}, (rows {rows}, cols {cols})");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void Reference_backwards_match_finite_differences_of_the_reference_forwards(SmallDim cols, bool log, int seed)
    {
        var rng = new Random(seed);
        int rows = 2;
        var x = Numerics.RandomFloats(rng, rows * cols, 3f);
        var dy = Numerics.RandomFloats(rng, x.Length);
        double Loss(float[] input)
        {
            var y = log ? SoftmaxReference.LogSoftmax(input, rows, cols) : SoftmaxReference.Softmax(input, rows, cols);
            return y.Select((v, i) => v * dy[i]).Sum();
        }
        var y0 = log ? SoftmaxReference.LogSoftmax(x, rows, cols) : SoftmaxReference.Softmax(x, rows, cols);
        var zero = new float[x.Length];
        var analytic = log
            ? SoftmaxReference.LogSoftmaxBackward(y0, dy, zero, rows, cols)
            : SoftmaxReference.SoftmaxBackward(y0, dy, zero, rows, cols);
        for (int i = 0; i < x.Length; i++)
        {
            double numeric = CentralDifference(x, i, Loss);
            Assert.True(Math.Abs(numeric - analytic[i]) <= 1e-5 * (1 + Math.Abs(numeric)),
                $"log {log}, seed {seed}, cols {cols}, index {i}: analytic {analytic[i]:R}, numeric {numeric:R}");
        }
    }

    /// <summary>
    /// (x, y) view offsets for the 128-bit tests: aligned at the allocation's start, aligned 4 floats in, and not
    /// aligned in the input, the output or both (each of those must take the float path).
    /// </summary>
    private static readonly int[][] s_forwardOffsets = [[0, 0], [4, 4], [1, 1], [0, 3], [2, 0]];

    /// <summary>(y, dy, dx) view offsets, as <see cref="s_forwardOffsets"/>: any one misaligned view means floats.</summary>
    private static readonly int[][] s_backwardOffsets = [[0, 0, 0], [4, 4, 4], [1, 1, 1], [0, 0, 1], [0, 2, 0], [3, 0, 0]];

    /// <summary>
    /// The ILGPU row kernels read and write whole 16-byte quads when the host's flag says every row starts on one
    /// (cols % 4 = 0 and every view quad-aligned; <see cref="IlgpuBackend.LastRowQuad"/> shows which path ran), else
    /// float by float. Both paths, with −∞ entries and an all −∞ row, against the float64 reference at column counts
    /// divisible by 4 and not, with views at aligned and unaligned offsets (arena slices); outputs poisoned with NaN,
    /// nothing written outside the views.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestBackends.RowQuadCases), MemberType = typeof(TestBackends))]
    public void Ilgpu_quad_and_float_paths_match_the_reference_at_any_column_count_and_view_offset(string name, int cols)
    {
        var backend = TestBackends.Get(name);
        const int rows = 3;
        foreach (var off in s_forwardOffsets)
        {
            int quad = cols % 4 == 0 && off.All(o => o % 4 == 0) ? 1 : 0;
            var x = Logits(new Random(cols * 31 + off[0] * 7 + off[1]), rows, cols, holes: true);
            using var bx = new SlicedBuffer(backend, x, off[0]);
            foreach (bool log in new[] { false, true })
            {
                using var by = new SlicedBuffer(backend, new float[x.Length], off[1]);
                by.View.Fill(float.NaN);
                string context = $"{(log ? "Log" : "")}SoftmaxForward on {name}, cols {cols}, offsets (x {off[0]}, y {off[1]})";
                if (log)
                {
                    backend.LogSoftmaxForward(bx.View, rows, cols, by.View);
                }
                else
                {
                    backend.SoftmaxForward(bx.View, rows, cols, by.View);
                }
                Assert.True(quad == IlgpuBackend.LastRowQuad, $"{context}: quad flag {IlgpuBackend.LastRowQuad}, expected {quad}");
                var expected = log ? SoftmaxReference.LogSoftmax(x, rows, cols) : SoftmaxReference.Softmax(x, rows, cols);
                var actual = by.View.ToArray();
                AssertMinusInfinityMatches(expected, actual, context);
                Numerics.AssertClose(expected, actual, Numerics.Tolerance(cols, 4e-6), context);
                by.AssertGuardsIntact(context);
                bx.AssertGuardsIntact(context);
            }
        }
        foreach (var off in s_backwardOffsets)
        {
            int quad = cols % 4 == 0 && off.All(o => o % 4 == 0) ? 1 : 0;
            foreach (bool log in new[] { false, true })
            {
                var rng = new Random(cols * 17 + off[0] * 5 + off[1] * 3 + off[2] + (log ? 1000 : 0));
                var logits = Logits(rng, rows, cols, holes: false);
                var y = (log ? SoftmaxReference.LogSoftmax(logits, rows, cols) : SoftmaxReference.Softmax(logits, rows, cols))
                    .Select(v => (float)v).ToArray();
                var dy = Numerics.RandomFloats(rng, y.Length);
                var dx = Numerics.RandomFloats(rng, y.Length);
                using var by = new SlicedBuffer(backend, y, off[0]);
                using var bdy = new SlicedBuffer(backend, dy, off[1]);
                using var bdx = new SlicedBuffer(backend, dx, off[2]);
                string context = $"{(log ? "Log" : "")}SoftmaxBackward on {name}, cols {cols}, offsets (y {off[0]}, dy {off[1]}, dx {off[2]})";
                var yd = y.Select(v => (double)v).ToArray();
                double[] expected;
                if (log)
                {
                    backend.LogSoftmaxBackward(by.View, bdy.View, rows, cols, bdx.View);
                    expected = SoftmaxReference.LogSoftmaxBackward(yd, dy, dx, rows, cols);
                }
                else
                {
                    backend.SoftmaxBackward(by.View, bdy.View, rows, cols, bdx.View);
                    expected = SoftmaxReference.SoftmaxBackward(yd, dy, dx, rows, cols);
                }
                Assert.True(quad == IlgpuBackend.LastRowQuad, $"{context}: quad flag {IlgpuBackend.LastRowQuad}, expected {quad}");
                Numerics.AssertClose(expected, bdx.View.ToArray(), Numerics.Tolerance(cols), context);
                bdx.AssertGuardsIntact(context);
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.NamesAndNoShuffles), MemberType = typeof(TestBackends))]
    public void Rows_of_all_minus_infinity_come_out_uniform_not_NaN(string name)
    {
        var backend = TestBackends.Get(name);
        foreach (int cols in s_cols)
        {
            var x = Enumerable.Repeat(float.NegativeInfinity, 3 * cols).ToArray();
            using var bx = backend.Upload<float>(x);
            using var y = Numerics.Poisoned(backend, x.Length);
            backend.SoftmaxForward(bx, 3, cols, y);
            Numerics.AssertClose(SoftmaxReference.Softmax(x, 3, cols), y.ToArray(), 1e-6, $"softmax {name}, cols {cols}");
            backend.LogSoftmaxForward(bx, 3, cols, y);
            Numerics.AssertClose(SoftmaxReference.LogSoftmax(x, 3, cols), y.ToArray(), 1e-6, $"log-softmax {name}, cols {cols}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Kernels_reject_wrong_lengths_and_non_positive_sizes_naming_the_shape(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(12);
        using var y = backend.Allocate<float>(10);
        var e = Assert.Throws<ArgumentException>(() => backend.SoftmaxForward(x, 3, 4, y));
        Assert.Contains("SoftmaxForward: 'y' has 10 elements", e.Message);
        Assert.Contains("(rows 3, cols 4) needs 12", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.LogSoftmaxBackward(x, x, 3, 4, y));
        Assert.Contains("'dx' has 10", e.Message);
        var r = Assert.Throws<ArgumentOutOfRangeException>(() => backend.SoftmaxBackward(x, x, 0, 4, x));
        Assert.Contains("'rows' must be positive but was 0", r.Message);
        r = Assert.Throws<ArgumentOutOfRangeException>(() => backend.LogSoftmaxForward(x, 3, -4, x));
        Assert.Contains("'cols' must be positive but was -4", r.Message);
    }

    /// <summary>−∞ expected entries must be −∞ exactly; they are then zeroed so the finite part can be compared.</summary>
    private static void AssertMinusInfinityMatches(double[] expected, float[] actual, string context)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (double.IsNegativeInfinity(expected[i]) || float.IsNegativeInfinity(actual[i]))
            {
                if (!(double.IsNegativeInfinity(expected[i]) && float.IsNegativeInfinity(actual[i])))
                {
                    throw new XunitException($"{context}: index {i}: expected {expected[i]:R}, got {actual[i]:R}.");
                }
                expected[i] = 0;
                actual[i] = 0;
            }
        }
    }

    /// <summary>The simulator runs each GPU thread as an OS thread: a few rows (groups) prove the same code.</summary>
    internal static int SimulatorRows(Backend backend, int rows) => backend.Kind == BackendKind.IlgpuCpu ? Math.Min(rows, 6) : rows;

    /// <summary>Float64 central difference through a float32 input: the step is the one actually representable.</summary>
    internal static double CentralDifference(float[] x, int i, Func<float[], double> f, double h = 1e-3)
    {
        float saved = x[i];
        float plus = (float)(saved + h), minus = (float)(saved - h);
        x[i] = plus;
        double fp = f(x);
        x[i] = minus;
        double fm = f(x);
        x[i] = saved;
        return (fp - fm) / ((double)plus - minus);
    }
}
