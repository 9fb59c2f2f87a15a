using System.Runtime.Intrinsics;
using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class ActivationTests
{
    private static readonly Activation[] s_all = [Activation.Identity, Activation.GeluTanh, Activation.Silu];

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void Forward_matches_the_reference_for_each_activation_with_and_without_bias(SmallDim rows, Dim cols,
        bool withBias, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            foreach (var act in s_all)
            {
                var rng = new Random(seed);
                var x = Numerics.RandomFloats(rng, rows * cols, 4f);
                var bias = withBias ? Numerics.RandomFloats(rng, cols) : [];
                using var dx = backend.Upload<float>(x);
                using var db = withBias ? backend.Upload<float>(bias) : null;
                using var y = Numerics.Poisoned(backend, x.Length);
                backend.BiasActivationForward(dx, db, rows, cols, act, y);
                Numerics.AssertClose(ActivationReference.Forward(x, bias, rows, cols, act), y.ToArray(), 2e-6,
                    $"BiasActivationForward {act} on {backend.Name}, seed {seed}, ({rows}, {cols}), bias {withBias}");
            }
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void Forward_may_run_in_place(SmallDim rows, Dim cols, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var x = Numerics.RandomFloats(rng, rows * cols, 4f);
            var bias = Numerics.RandomFloats(rng, cols);
            using var dx = backend.Upload<float>(x);
            using var db = backend.Upload<float>(bias);
            backend.BiasActivationForward(dx, db, rows, cols, Activation.GeluTanh, dx);
            Numerics.AssertClose(ActivationReference.Forward(x, bias, rows, cols, Activation.GeluTanh), dx.ToArray(), 2e-6,
                $"in-place BiasActivationForward on {backend.Name}, seed {seed}, ({rows}, {cols})");
        }
    }

    /// <summary>
    /// Pre-activations far below zero (GELU's σ argument passes −87 from u ≈ −9.5): forward and backward match the
    /// float64 reference and no output is subnormal (a subnormal σ cost a microcode assist per operation, 5× the GEMM
    /// it follows). Mixed with ordinary and large positive values, rows ragged so the scalar tail runs too.
    /// </summary>
    [Theory]
    [InlineData(Activation.GeluTanh)]
    [InlineData(Activation.Silu)]
    public void Large_negative_pre_activations_match_the_reference_without_subnormals(Activation act)
    {
        var rng = new Random(3);
        const int rows = 7, cols = 45;
        var x = Enumerable.Range(0, rows * cols).Select(i => (float)(i % 3 == 0 ? -300 * rng.NextDouble() - 9 :
            i % 3 == 1 ? 300 * rng.NextDouble() : 8 * rng.NextDouble() - 4)).ToArray();
        var dyv = Numerics.RandomFloats(rng, rows * cols);
        var backend = TestBackends.Cpu;
        using var bx = backend.Upload<float>(x);
        using var y = Numerics.Poisoned(backend, rows * cols);
        using var bdy = backend.Upload<float>(dyv);
        using var dx = Numerics.Poisoned(backend, rows * cols);
        backend.BiasActivationForward(bx, null, rows, cols, act, y);
        backend.BiasActivationBackward(bx, null, bdy, rows, cols, act, dx, null, writeDx: true);
        var ey = ActivationReference.Forward(x, [], rows, cols, act);
        var (edx, _) = ActivationReference.Backward(x, [], dyv, rows, cols, act, new float[x.Length], []);
        Numerics.AssertClose(ey, y.ToArray(), 4e-6, $"{act} forward of large inputs");
        Numerics.AssertClose(edx, dx.ToArray(), 4e-6, $"{act} backward of large inputs");
        foreach (var (v, what) in y.ToArray().Select(v => (v, "y")).Concat(dx.ToArray().Select(v => (v, "dx"))))
        {
            Assert.False(float.IsSubnormal(v), $"{act}: {what} has the subnormal {v:R}");
        }
    }

    /// <summary>
    /// The σ both activations use, for t from −10⁴ to 10⁴: within 2e-38 + 1e-6·σ of the float64 value and never
    /// subnormal (the outputs of GELU and SiLU above are u·σ, normal even when σ is not, so σ is checked itself).
    /// </summary>
    [Fact]
    public void Simd_sigmoid_stays_off_subnormals_and_matches_float64()
    {
        var t = new float[] { -1e4f, -300f, -104f, -88f, -87.5f, -87f, -86.9f, -50f, -1f, 0f, 1f, 50f, 90f, 1e4f };
        var got512 = new float[16];
        var got256 = new float[8];
        for (int i = 0; i < t.Length; i++)
        {
            got512[i] = t[i];
        }
        Cpu.SimdMath.Sigmoid(Vector512.Create(got512)).CopyTo(got512);
        for (int i = 0; i < t.Length; i++)
        {
            got256[i % 8] = t[i];
            if (i % 8 == 7 || i == t.Length - 1)
            {
                var out256 = new float[8];
                Cpu.SimdMath.Sigmoid(Vector256.Create(got256)).CopyTo(out256);
                for (int j = i - i % 8; j <= i; j++)
                {
                    Check(t[j], out256[j % 8], "Vector256");
                }
            }
        }
        for (int i = 0; i < t.Length; i++)
        {
            Check(t[i], got512[i], "Vector512");
        }

        static void Check(float t, float got, string width)
        {
            double want = 1 / (1 + Math.Exp(-(double)t));
            Assert.False(float.IsSubnormal(got), $"{width} σ({t}) = {got:R} is subnormal");
            Assert.True(Math.Abs(got - want) <= 2e-38 + 1e-6 * want, $"{width} σ({t}) = {got:R}, float64 {want:R}");
        }
    }

    /// <summary>
    /// dx accumulated into a prefilled gradient, or (<c>writeDx</c>, a first writer's fresh buffer) written into one
    /// that starts as NaN — the reference from zeros, and on the CPU the same bits as accumulating into zeros.
    /// </summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void Backward_accumulates_dx_and_dbias_like_the_reference(SmallDim rows, Dim cols, bool withBias,
        bool withDbias, bool writeDx, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            foreach (var act in s_all)
            {
                var rng = new Random(seed);
                var x = Numerics.RandomFloats(rng, rows * cols, 4f);
                var bias = withBias ? Numerics.RandomFloats(rng, cols) : [];
                var dyv = Numerics.RandomFloats(rng, rows * cols);
                var dx0 = writeDx ? new float[rows * cols] : Numerics.RandomFloats(rng, rows * cols);
                var db0 = withDbias ? Numerics.RandomFloats(rng, cols) : [];
                using var bx = backend.Upload<float>(x);
                using var bb = withBias ? backend.Upload<float>(bias) : null;
                using var bdy = backend.Upload<float>(dyv);
                using var bdx = writeDx ? Numerics.Poisoned(backend, rows * cols) : backend.Upload<float>(dx0);
                using var bdb = withDbias ? backend.Upload<float>(db0) : null;
                backend.BiasActivationBackward(bx, bb, bdy, rows, cols, act, bdx, bdb, writeDx);
                var (ex, eb) = ActivationReference.Backward(x, bias, dyv, rows, cols, act, dx0, db0);
                string ctx = $"BiasActivationBackward {act} on {backend.Name}, seed {seed}, ({rows}, {cols}), bias {withBias}, write dx {writeDx}";
                Numerics.AssertClose(ex, bdx.ToArray(), 4e-6, ctx + ", dx");
                if (writeDx && backend is Cpu.CpuBackend)
                {
                    using var zeros = backend.Full(rows * cols, 0f);
                    backend.BiasActivationBackward(bx, bb, bdy, rows, cols, act, zeros, null);
                    Numerics.AssertBits(zeros.ToArray(), bdx.ToArray(), ctx + ", dx written vs added to zeros");
                }
                if (withDbias)
                {
                    Numerics.AssertClose(eb, bdb!.ToArray(), Numerics.Tolerance(rows), ctx + ", dbias");
                }
            }
        }
    }

    [Property(MaxTest = 10)]
    public void Forward_and_backward_hold_the_tolerance_over_a_wide_range_including_saturated_tails(int seed)
    {
        // Log-uniform |u| from 1e-4 to 100, both signs: the exp-saturated tails (σ → 0 and 1, u·σ → 0 and u) and
        // the small-|u| region where act ≈ u/2, through the vector and the scalar-tail paths (cols not a multiple of 16).
        var rng = new Random(seed);
        int rows = 1 + rng.Next(8), cols = 1 + rng.Next(300);
        var x = Enumerable.Range(0, rows * cols)
            .Select(_ => (float)((rng.Next(2) == 0 ? -1 : 1) * Math.Pow(10, rng.NextDouble() * 6 - 4))).ToArray();
        var dyv = Numerics.RandomFloats(rng, rows * cols);
        foreach (var backend in TestBackends.All)
        {
            foreach (var act in s_all)
            {
                using var bx = backend.Upload<float>(x);
                using var y = Numerics.Poisoned(backend, x.Length);
                backend.BiasActivationForward(bx, null, rows, cols, act, y);
                string ctx = $"{act} on {backend.Name}, seed {seed}, ({rows}, {cols})";
                Numerics.AssertClose(ActivationReference.Forward(x, [], rows, cols, act), y.ToArray(), 2e-6, ctx + ", forward");
                using var bdy = backend.Upload<float>(dyv);
                using var bdx = backend.Full(x.Length, 0f);
                backend.BiasActivationBackward(bx, null, bdy, rows, cols, act, bdx, null);
                var (ex, _) = ActivationReference.Backward(x, [], dyv, rows, cols, act, new float[x.Length], []);
                Numerics.AssertClose(ex, bdx.ToArray(), 4e-6, ctx + ", dx");
            }
        }
    }

    [Property(MaxTest = 25)]
    public void Reference_derivative_matches_central_differences(int seed)
    {
        var rng = new Random(seed);
        foreach (var act in s_all)
        {
            double u = (rng.NextDouble() * 2 - 1) * 6;
            const double h = 1e-5;
            double fd = (ActivationReference.Apply(act, u + h) - ActivationReference.Apply(act, u - h)) / (2 * h);
            double an = ActivationReference.Derivative(act, u);
            Assert.True(Math.Abs(fd - an) <= 1e-7 * (1 + Math.Abs(an)), $"{act} at u = {u}: analytic {an}, finite difference {fd}");
        }
    }

    [Fact]
    public void Reference_gelu_is_the_tanh_form_and_silu_is_u_sigma_u()
    {
        // Independent spot values: GELU_tanh(1) = 0.8411919906082768, SiLU(1) = 1/(1+e^-1).
        Assert.Equal(0.8411919906082768, ActivationReference.Apply(Activation.GeluTanh, 1.0), 12);
        Assert.Equal(1 / (1 + Math.Exp(-1)), ActivationReference.Apply(Activation.Silu, 1.0), 15);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Kernels_reject_wrong_lengths_naming_argument_and_shape(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(12);
        using var bad = backend.Allocate<float>(5);
        using var y = backend.Allocate<float>(12);
        var e = Assert.Throws<ArgumentException>(() => backend.BiasActivationForward(x, bad, 3, 4, Activation.Silu, y));
        Assert.Contains("'bias' has 5", e.Message);
        Assert.Contains("(4)", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.BiasActivationForward(x, null, 3, 4, Activation.Silu, bad));
        Assert.Contains("'y' has 5", e.Message);
        Assert.Contains("(3, 4)", e.Message);
        e = Assert.Throws<ArgumentException>(() =>
            backend.BiasActivationBackward(x, null, x, 3, 4, Activation.GeluTanh, y, bad));
        Assert.Contains("'dbias' has 5", e.Message);
        e = Assert.Throws<ArgumentException>(() =>
            backend.BiasActivationBackward(x, null, bad, 3, 4, Activation.GeluTanh, y, null));
        Assert.Contains("'dy' has 5", e.Message);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Kernels_reject_non_positive_sizes_and_unknown_activations(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(4);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.BiasActivationForward(x, null, 4, 0, Activation.Silu, x));
        Assert.Contains("'cols' must be positive", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.BiasActivationForward(x, null, -1, 4, Activation.Silu, x));
        Assert.Contains("'rows' must be positive", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.BiasActivationForward(x, null, 1, 4, (Activation)7, x));
        Assert.Contains("'act'", e.Message);
    }
}
