using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class OptimizerTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void AdamW_several_steps_with_weight_decay_match_the_float64_reference(Dim n, bool decay, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var p0 = Numerics.RandomFloats(rng, n);
            double[] param = [.. p0.Select(x => (double)x)], m = new double[n], v = new double[n];
            using var dp = backend.Upload<float>(p0);
            using var dg = backend.Allocate<float>(n);
            using var dm = backend.Full(n, 0f);
            using var dv = backend.Full(n, 0f);
            for (int t = 1; t <= 4; t++)
            {
                var g = Numerics.RandomFloats(rng, n, 2f);
                var p = new AdamWParameters(1e-2f * t, 0.9f, 0.999f, 1e-8f, decay ? 0.1f : 0f, t);
                dg.CopyFrom(g);
                backend.AdamWStep(dp, dg, dm, dv, p);
                OptimizerReference.AdamWStep(param, g, m, v, p);
                string context = $"AdamW on {backend.Name}, seed {seed}, n {n}, step {t}, wd {p.WeightDecay}";
                Numerics.AssertClose(param, dp.ToArray(), 2e-5, context + ", param");
                Numerics.AssertClose(m, dm.ToArray(), 1e-6, context + ", m");
                Numerics.AssertClose(v, dv.ToArray(), 1e-6, context + ", v");
            }
        }
    }

    [Fact]
    public void AdamW_applies_decoupled_weight_decay_before_the_update_like_pytorch()
    {
        // With g = 0 from zero moments the Adam term vanishes: only param·(1 − lr·wd) remains.
        foreach (var backend in TestBackends.All)
        {
            var p0 = Numerics.RandomFloats(new Random(5), 37);
            using var dp = backend.Upload<float>(p0);
            using var dg = backend.Full(37, 0f);
            using var dm = backend.Full(37, 0f);
            using var dv = backend.Full(37, 0f);
            backend.AdamWStep(dp, dg, dm, dv, new AdamWParameters(0.5f, 0.9f, 0.99f, 1e-8f, 0.2f, 3));
            Numerics.AssertClose([.. p0.Select(x => x * 0.9)], dp.ToArray(), 1e-6, $"AdamW decay on {backend.Name}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void EmaUpdate_moves_ema_towards_param_like_the_reference(Dim n, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var ema = Numerics.RandomFloats(rng, n);
            var param = Numerics.RandomFloats(rng, n);
            float decay = (float)rng.NextDouble();
            using var de = backend.Upload<float>(ema);
            using var dp = backend.Upload<float>(param);
            backend.EmaUpdate(de, dp, decay);
            Numerics.AssertClose(OptimizerReference.Ema(ema, param, decay), de.ToArray(), 1e-6,
                $"EmaUpdate on {backend.Name}, seed {seed}, n {n}, decay {decay}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    public void GradNormSquared_sums_squares_over_all_buffers_deterministically(Dim a, Dim b, SmallDim c, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            float[][] grads = [Numerics.RandomFloats(rng, a * b), Numerics.RandomFloats(rng, c), Numerics.RandomFloats(rng, b)];
            var buffers = grads.Select(g => backend.Upload<float>(g)).ToList();
            using var first = Numerics.Poisoned(backend, 1);
            using var second = Numerics.Poisoned(backend, 1);
            backend.GradNormSquared(buffers, first);
            backend.GradNormSquared(buffers, second);
            buffers.ForEach(d => d.Dispose());
            int total = grads.Sum(g => g.Length);
            Numerics.AssertClose([OptimizerReference.GradNormSquared(grads)], first.ToArray(), Numerics.Tolerance(total),
                $"GradNormSquared on {backend.Name}, seed {seed}, lengths {a * b}, {c}, {b}");
            Assert.Equal(first.ToArray(), second.ToArray());
        }
    }

    [Theory]
    [InlineData(0.5f, 1)]
    [InlineData(2f, 2)]
    [InlineData(1000f, 3)]
    public void ClipByNorm_scales_only_when_the_norm_exceeds_the_limit(float maxNorm, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            float[][] grads = [Numerics.RandomFloats(rng, 100), Numerics.RandomFloats(rng, 17)];
            var buffers = grads.Select(g => backend.Upload<float>(g)).ToList();
            using var normSquared = backend.Allocate<float>(1);
            backend.GradNormSquared(buffers, normSquared);
            backend.ClipByNorm(buffers, normSquared, maxNorm);
            double norm2 = OptimizerReference.GradNormSquared(grads);
            for (int b = 0; b < grads.Length; b++)
            {
                Numerics.AssertClose(OptimizerReference.ClipByNorm(grads[b], norm2, maxNorm), buffers[b].ToArray(), 1e-6,
                    $"ClipByNorm on {backend.Name}, seed {seed}, maxNorm {maxNorm}, norm {Math.Sqrt(norm2)}, buffer {b}");
            }
            var clipped = buffers.Select(d => d.ToArray()).ToArray();
            double after = Math.Sqrt(OptimizerReference.GradNormSquared(clipped));
            Assert.True(after <= maxNorm * (1 + 1e-5), $"{backend.Name}: norm after clipping {after} > {maxNorm}.");
            buffers.ForEach(d => d.Dispose());
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void AdamW_rejects_mismatched_buffers_naming_the_argument_and_both_lengths(string name)
    {
        var backend = TestBackends.Get(name);
        using var p = backend.Allocate<float>(8);
        using var g = backend.Allocate<float>(8);
        using var m = backend.Allocate<float>(7);
        using var v = backend.Allocate<float>(8);
        var ok = new AdamWParameters(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
        var e = Assert.Throws<ArgumentException>(() => backend.AdamWStep(p, g, m, v, ok));
        Assert.Contains("AdamWStep: 'm' has 7 elements but shape (8) needs 8", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.AdamWStep(p, m, g, v, ok));
        Assert.Contains("'grad' has 7 elements", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.EmaUpdate(p, m, 0.9f));
        Assert.Contains("EmaUpdate: 'param' has 7 elements but shape (8) needs 8", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.GradNormSquared([p, g], m));
        Assert.Contains("'result' has 7 elements but shape (1) needs 1", e.Message);
    }

    public static TheoryData<string, string> BadHyperParameters => new()
    {
        { "lr", "'LearningRate' must be finite and ≥ 0 but was -0.1" },
        { "beta1", "'Beta1' must be finite and in [0, 1) but was 1" },
        { "beta2", "'Beta2' must be finite and in [0, 1) but was -0.5" },
        { "eps", "'Epsilon' must be finite and > 0 but was 0" },
        { "wd", "'WeightDecay' must be finite and ≥ 0 but was NaN" },
        { "step", "'Step' must be ≥ 1 (1-based) but was 0" },
    };

    [Theory]
    [MemberData(nameof(BadHyperParameters))]
    public void AdamW_rejects_invalid_hyper_parameters_naming_the_value(string which, string message)
    {
        var backend = TestBackends.Cpu;
        using var b = backend.Allocate<float>(4);
        var ok = new AdamWParameters(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
        var p = which switch
        {
            "lr" => ok with { LearningRate = -0.1f },
            "beta1" => ok with { Beta1 = 1f },
            "beta2" => ok with { Beta2 = -0.5f },
            "eps" => ok with { Epsilon = 0f },
            "wd" => ok with { WeightDecay = float.NaN },
            _ => ok with { Step = 0 },
        };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.AdamWStep(b, b, b, b, p));
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Ema_and_clip_reject_out_of_range_scalars_naming_the_value(string name)
    {
        var backend = TestBackends.Get(name);
        using var b = backend.Allocate<float>(4);
        using var one = backend.Allocate<float>(1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.EmaUpdate(b, b, 1.5f));
        Assert.Contains("'decay' must be in [0, 1] but was 1.5", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.ClipByNorm([b], one, 0f));
        Assert.Contains("'maxNorm' must be finite and > 0 but was 0", e.Message);
    }
}
