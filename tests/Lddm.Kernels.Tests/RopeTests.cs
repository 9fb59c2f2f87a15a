using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class RopeTests
{
    private const float Theta = 10000f;

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void RopeForward_matches_the_reference_and_writes_every_element(SmallDim tokens, SmallDim half, bool inPlace, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int batch = 1 + rng.Next(2), heads = 1 + rng.Next(3), headDim = 2 * half;
            var x = Numerics.RandomFloats(rng, batch * heads * tokens * headDim);
            using var dx = backend.Upload<float>(x);
            using var poisoned = Numerics.Poisoned(backend, x.Length);
            var y = inPlace ? dx : poisoned;
            backend.RopeForward(dx, batch, heads, tokens, headDim, Theta, y);
            Numerics.AssertClose(RopeReference.Forward(x, batch, heads, tokens, headDim, Theta), y.ToArray(), 1e-6,
                $"RopeForward on {backend.Name}, seed {seed}, ({batch}, {heads}, {tokens}, {headDim}), in place {inPlace}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void RopeBackward_accumulates_the_inverse_rotation_into_a_prefilled_gradient(SmallDim tokens, SmallDim half, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int batch = 1 + rng.Next(2), heads = 1 + rng.Next(3), headDim = 2 * half;
            var dy = Numerics.RandomFloats(rng, batch * heads * tokens * headDim);
            var dx0 = Numerics.RandomFloats(rng, dy.Length);
            using var bdy = backend.Upload<float>(dy);
            using var bdx = backend.Upload<float>(dx0);
            backend.RopeBackward(bdy, batch, heads, tokens, headDim, Theta, bdx);
            Numerics.AssertClose(RopeReference.Backward(dy, batch, heads, tokens, headDim, Theta, dx0), bdx.ToArray(), 1e-6,
                $"RopeBackward on {backend.Name}, seed {seed}, ({batch}, {heads}, {tokens}, {headDim})");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void RopeForward_preserves_the_norm_of_every_rotated_pair(SmallDim tokens, SmallDim half, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int headDim = 2 * half;
            var x = Numerics.RandomFloats(rng, 2 * tokens * headDim, scale: 3f);
            using var dx = backend.Upload<float>(x);
            using var y = Numerics.Poisoned(backend, x.Length);
            backend.RopeForward(dx, 1, 2, tokens, headDim, Theta, y);
            var got = y.ToArray();
            for (int row = 0; row < 2 * tokens; row++)
                for (int i = 0; i < half; i++)
                {
                    int lo = row * headDim + i, hi = lo + half;
                    double before = (double)x[lo] * x[lo] + (double)x[hi] * x[hi];
                    double after = (double)got[lo] * got[lo] + (double)got[hi] * got[hi];
                    Assert.True(Math.Abs(after - before) <= 1e-5 * (1 + before),
                        $"{backend.Name}, seed {seed}, row {row}, pair {i}: |pair|² {before:R} became {after:R}.");
                }
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void Rotated_query_key_products_depend_only_on_the_position_offset(SmallDim half, int seed)
    {
        const int tokens = 12;
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int headDim = 2 * half;
            var q = Numerics.RandomFloats(rng, headDim);
            var k = Numerics.RandomFloats(rng, headDim);
            // Head 0 holds q at every position, head 1 holds k at every position.
            var x = new float[2 * tokens * headDim];
            for (int t = 0; t < tokens; t++)
            {
                q.CopyTo(x, t * headDim);
                k.CopyTo(x, (tokens + t) * headDim);
            }
            using var dx = backend.Upload<float>(x);
            using var y = Numerics.Poisoned(backend, x.Length);
            backend.RopeForward(dx, 1, 2, tokens, headDim, Theta, y);
            var r = y.ToArray();
            double Dot(int t1, int t2)
            {
                double s = 0;
                for (int i = 0; i < headDim; i++)
                {
                    s += (double)r[t1 * headDim + i] * r[(tokens + t2) * headDim + i];
                }
                return s;
            }
            for (int t1 = 0; t1 < tokens; t1++)
                for (int t2 = 0; t2 < tokens; t2++)
                {
                    int shift = Math.Min(tokens - 1 - t1, tokens - 1 - t2);
                    double at = Dot(t1, t2), shifted = Dot(t1 + shift, t2 + shift);
                    Assert.True(Math.Abs(at - shifted) <= 1e-5 * (1 + Math.Abs(at)),
                        $"{backend.Name}, seed {seed}, D {headDim}: <q@{t1}, k@{t2}> = {at:R} but <q@{t1 + shift}, k@{t2 + shift}> = {shifted:R}.");
                }
        }
    }

    [Property(MaxTest = 10)]
    public void Reference_backward_matches_central_differences_of_the_reference_forward(int seed)
    {
        var rng = new Random(seed);
        const int batch = 1, heads = 2, tokens = 3, headDim = 6;
        var x = Numerics.RandomFloats(rng, batch * heads * tokens * headDim);
        var w = Numerics.RandomFloats(rng, x.Length); // L = Σ w·y, so dL/dy = w
        var gradient = RopeReference.Backward(w, batch, heads, tokens, headDim, Theta, new float[x.Length]);
        for (int i = 0; i < x.Length; i++)
        {
            var v = (float[])x.Clone();
            const float h = 1e-2f;
            v[i] = x[i] + h;
            double up = Dot(w, RopeReference.Forward(v, batch, heads, tokens, headDim, Theta));
            v[i] = x[i] - h;
            double down = Dot(w, RopeReference.Forward(v, batch, heads, tokens, headDim, Theta));
            double numeric = (up - down) / ((double)(x[i] + h) - (x[i] - h));
            Assert.True(Math.Abs(numeric - gradient[i]) <= 1e-6 * (1 + Math.Abs(numeric)),
                $"seed {seed}, index {i}: analytic {gradient[i]:R}, central difference {numeric:R}.");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Rope_rejects_an_odd_head_dim_with_a_clear_error(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(2 * 3 * 7);
        using var y = backend.Allocate<float>(2 * 3 * 7);
        var e = Assert.Throws<ArgumentException>(() => backend.RopeForward(x, 1, 2, 3, 7, Theta, y));
        Assert.Contains("RopeForward: 'headDim' must be even", e.Message);
        Assert.Contains("was 7", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.RopeBackward(x, 1, 2, 3, 7, Theta, y));
        Assert.Contains("RopeBackward: 'headDim' must be even", e.Message);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Rope_rejects_wrong_lengths_bad_sizes_and_a_bad_base(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(48);
        using var bad = backend.Allocate<float>(47);
        var e = Assert.Throws<ArgumentException>(() => backend.RopeForward(x, 1, 2, 3, 8, Theta, bad));
        Assert.Contains("'y' has 47 elements but shape (batch 1, heads 2, tokens 3, headDim 8) needs 48", e.Message);
        var z = Assert.Throws<ArgumentOutOfRangeException>(() => backend.RopeBackward(x, 1, 0, 3, 8, Theta, x));
        Assert.Contains("'heads' must be positive but was 0", z.Message);
        z = Assert.Throws<ArgumentOutOfRangeException>(() => backend.RopeForward(x, 1, 2, 3, 8, 0.5f, x));
        Assert.Contains("'theta'", z.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.RopeForward(x, 1, 2, 3, 8, float.NaN, x));
    }

    private static double Dot(float[] w, double[] y)
    {
        double s = 0;
        for (int i = 0; i < w.Length; i++)
        {
            s += w[i] * y[i];
        }
        return s;
    }
}
