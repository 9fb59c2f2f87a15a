using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class ReductionTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void Sum_with_scale_and_accumulate_matches_the_float64_reference(Dim rows, SmallDim cols, bool accumulate, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int n = rows * cols;
            var x = Numerics.RandomFloats(rng, n);
            float scale = (float)(rng.NextDouble() * 4 - 2);
            var initial = accumulate ? Numerics.RandomFloats(rng, 1, 10f) : [float.NaN];
            using var dx = backend.Upload<float>(x);
            using var result = backend.Upload<float>(initial);
            backend.Sum(dx, result, scale, accumulate);
            double expected = ReductionReference.Sum(x, scale, accumulate ? initial[0] : 0);
            Numerics.AssertClose([expected], result.ToArray(), Numerics.Tolerance(n),
                $"Sum on {backend.Name}, seed {seed}, n {n}, scale {scale}, accumulate {accumulate}");
        }
    }

    [Theory]
    [InlineData(1000, 1)]
    [InlineData(4097, 2)]
    [InlineData(65_537, 3)]
    [InlineData(100_000, 4)]
    public void Sum_of_many_floats_is_accurate_and_bit_identical_when_repeated(int n, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var x = Numerics.RandomFloats(rng, n, 3f);
            using var dx = backend.Upload<float>(x);
            using var first = Numerics.Poisoned(backend, 1);
            using var second = Numerics.Poisoned(backend, 1);
            backend.Sum(dx, first);
            backend.Sum(dx, second);
            float a = first.ToArray()[0], b = second.ToArray()[0];
            // Relative to Σ|x|: cancellation makes Σx itself small, so scale the tolerance by the magnitude.
            double magnitude = x.Sum(v => (double)Math.Abs(v));
            double expected = ReductionReference.Sum(x);
            double tol = Numerics.Tolerance(n, 1e-7) * magnitude / Math.Sqrt(n);
            Assert.True(Math.Abs(a - expected) <= tol,
                $"Sum on {backend.Name}, seed {seed}, n {n}: expected {expected:R}, got {a:R} (tolerance {tol:E2}).");
            Assert.True(BitConverter.SingleToInt32Bits(a) == BitConverter.SingleToInt32Bits(b),
                $"Sum on {backend.Name}, seed {seed}, n {n} is not deterministic: {a:R} then {b:R}.");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void Mean_is_the_sum_over_n_and_overwrites_poison(Dim n, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var x = Numerics.RandomFloats(new Random(seed), n);
            using var dx = backend.Upload<float>(x);
            using var result = Numerics.Poisoned(backend, 1);
            backend.Mean(dx, result);
            Numerics.AssertClose([ReductionReference.Sum(x, 1.0 / n)], result.ToArray(), Numerics.Tolerance(n),
                $"Mean on {backend.Name}, seed {seed}, n {n}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void SumRows_adds_column_sums_into_result_or_overwrites_poison(Dim rows, SmallDim cols, bool accumulate, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var x = Numerics.RandomFloats(rng, rows * cols);
            var initial = Numerics.RandomFloats(rng, cols);
            using var dx = backend.Upload<float>(x);
            using var result = accumulate ? backend.Upload<float>(initial) : Numerics.Poisoned(backend, cols);
            backend.SumRows(dx, rows, cols, result, accumulate);
            Numerics.AssertClose(ReductionReference.SumRows(x, rows, cols, accumulate ? initial : []), result.ToArray(),
                Numerics.Tolerance(rows), $"SumRows on {backend.Name}, seed {seed}, x ({rows}, {cols}), accumulate {accumulate}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void SumCols_adds_row_sums_into_result_or_overwrites_poison(SmallDim rows, Dim cols, bool accumulate, int seed)
    {
        foreach (var backend in TestBackends.AllAndNoShuffles)
        {
            var rng = new Random(seed);
            var x = Numerics.RandomFloats(rng, rows * cols);
            var initial = Numerics.RandomFloats(rng, rows);
            using var dx = backend.Upload<float>(x);
            using var result = accumulate ? backend.Upload<float>(initial) : Numerics.Poisoned(backend, rows);
            backend.SumCols(dx, rows, cols, result, accumulate);
            Numerics.AssertClose(ReductionReference.SumCols(x, rows, cols, accumulate ? initial : []), result.ToArray(),
                Numerics.Tolerance(cols), $"SumCols on {backend.Name}, seed {seed}, x ({rows}, {cols}), accumulate {accumulate}");
        }
    }

    [Fact]
    public void SumRows_on_the_cpu_is_accurate_over_many_rows_and_deterministic()
    {
        var backend = TestBackends.Cpu;
        int rows = 4096, cols = 200;
        var x = Numerics.RandomFloats(new Random(7), rows * cols);
        using var dx = backend.Upload<float>(x);
        using var a = Numerics.Poisoned(backend, cols);
        using var b = Numerics.Poisoned(backend, cols);
        backend.SumRows(dx, rows, cols, a, false);
        backend.SumRows(dx, rows, cols, b, false);
        Numerics.AssertClose(ReductionReference.SumRows(x, rows, cols, []), a.ToArray(), Numerics.Tolerance(rows),
            $"SumRows on {backend.Name}, x ({rows}, {cols})");
        Assert.Equal(a.ToArray(), b.ToArray());
    }

    [Fact]
    public void Sum_of_an_empty_buffer_is_zero_plus_the_accumulated_value()
    {
        foreach (var backend in TestBackends.All)
        {
            using var x = backend.Allocate<float>(0);
            using var fresh = Numerics.Poisoned(backend, 1);
            using var acc = backend.Full(1, 2.5f);
            backend.Sum(x, fresh);
            backend.Sum(x, acc, 3f, accumulate: true);
            Assert.Equal(0f, fresh.ToArray()[0]);
            Assert.Equal(2.5f, acc.ToArray()[0]);
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Reductions_reject_wrong_shapes_naming_the_argument_and_both_sizes(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(12);
        using var two = backend.Allocate<float>(2);
        using var empty = backend.Allocate<float>(0);
        var e = Assert.Throws<ArgumentException>(() => backend.Sum(x, two));
        Assert.Contains("'result' has 2 elements but shape (1) needs 1", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.SumRows(x, 3, 5, two, false));
        Assert.Contains("'x' has 12 elements but shape (3, 5) needs 15", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.SumRows(x, 3, 4, two, false));
        Assert.Contains("'result' has 2 elements but shape (4) needs 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.SumCols(x, 4, 3, two, true));
        Assert.Contains("SumCols: 'result' has 2 elements but shape (4) needs 4", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.SumCols(x, 0, 12, two, true));
        Assert.Contains("'rows' must be positive but was 0", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.Sum(x, two, float.NaN));
        Assert.Contains("'scale' must be finite", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.Mean(empty, two));
        Assert.Contains("Mean: 'x' is empty", e.Message);
    }
}
