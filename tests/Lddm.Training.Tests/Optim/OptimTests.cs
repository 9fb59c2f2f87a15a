using FsCheck.Xunit;
using Lddm.Autograd;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Optim;
using Xunit;

namespace Lddm.Training.Tests.Optim;

public sealed class OptimTests
{
    private sealed class Two : Module
    {
        public Two(Lddm.Kernels.Backend backend) : base(backend)
        {
            A = AddParameter("a", Init.Normal(1f), 5);
            B = AddParameter("b", Init.Normal(1f), 3, 2);
        }

        public Parameter A { get; }

        public Parameter B { get; }
    }

    [Property(MaxTest = 10)]
    public void Warmup_rises_linearly_and_cosine_ends_at_the_floor(byte warmupByte, bool cosine)
    {
        int warmup = 1 + warmupByte % 50, total = warmup + 100;
        var s = new LearningRateSchedule(3e-4, warmup, cosine ? DecayKind.Cosine : DecayKind.Constant, total, 0.1);
        s.Validate();
        for (int step = 1; step < warmup; step++)
        {
            Assert.Equal(s.At(step + 1) - s.At(step), 3e-4 / warmup, 12);
        }
        Assert.Equal(3e-4, s.At(warmup), 12);
        Assert.Equal(cosine ? 3e-5 : 3e-4, s.At(total), 12);
        Assert.True(s.At(warmup + 50) <= s.At(warmup + 1));
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void AdamW_over_a_module_matches_a_float64_adamw_over_three_steps(string name)
    {
        var backend = TestBackends.Get(name);
        using var model = new Two(backend);
        model.Initialize(11);
        var config = new AdamWConfig(WeightDecay: 0.03);
        using var opt = new AdamW(model.NamedParameters(), config);
        var p = model.A.ToArray().Select(v => (double)v).ToArray();
        var m = new double[p.Length];
        var v = new double[p.Length];
        var rng = new Random(3);
        for (int t = 1; t <= 3; t++)
        {
            var g = Numerics.RandomFloats(rng, p.Length);
            model.ZeroGrad();
            using (var tape = Tape.Begin())
            {
                var y = ScaleOp.Apply(model.A, 1f);
                y.Backward(g);
                opt.Step(1e-2);
            }
            for (int i = 0; i < p.Length; i++)
            {
                p[i] *= 1 - 1e-2 * 0.03;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                double mh = m[i] / (1 - Math.Pow(0.9, t)), vh = v[i] / (1 - Math.Pow(0.999, t));
                p[i] -= 1e-2 * mh / (Math.Sqrt(vh) + 1e-8);
            }
        }
        Numerics.AssertClose(p, model.A.ToArray(), 1e-5, $"AdamW on {backend.Name}");
        Assert.Equal(3, opt.StepCount);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Ema_follows_the_warmed_up_decay_and_swaps_back_exactly(string name)
    {
        var backend = TestBackends.Get(name);
        using var model = new Two(backend);
        model.Initialize(5);
        var shadow = model.A.ToArray().Select(x => (double)x).ToArray();
        using var ema = new Ema(model.NamedParameters(), 0.99);
        var rng = new Random(9);
        for (int n = 0; n < 4; n++)
        {
            var next = Numerics.RandomFloats(rng, 5);
            model.A.Load(next);
            double d = Math.Min(0.99, (1.0 + n) / (10.0 + n));
            Assert.Equal(d, ema.DecayAt(n), 12);
            ema.Update();
            for (int i = 0; i < 5; i++)
            {
                shadow[i] = d * shadow[i] + (1 - d) * next[i];
            }
        }
        var live = model.A.ToArray();
        ema.SwapInto();
        Numerics.AssertClose(shadow, model.A.ToArray(), 1e-6, $"EMA on {backend.Name}");
        ema.SwapInto();
        Assert.Equal(live, model.A.ToArray());
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Clipping_scales_the_global_norm_down_to_the_limit_only_when_above(string name)
    {
        var backend = TestBackends.Get(name);
        using var model = new Two(backend);
        using var clipper = new GradientClipper(backend, 1.0);
        foreach (float scale in new[] { 10f, 0.01f })
        {
            model.ZeroGrad();
            var ga = Numerics.RandomFloats(new Random(1), 5, scale);
            var gb = Numerics.RandomFloats(new Random(2), 6, scale);
            using (var tape = Tape.Begin())
            {
                ScaleOp.Apply(model.A, 1f).Backward(ga);
            }
            using (var tape = Tape.Begin())
            {
                ScaleOp.Apply(model.B, 1f).Backward(gb);
            }
            double norm = Math.Sqrt(ga.Concat(gb).Sum(x => (double)x * x));
            clipper.Clip(model.Parameters());
            Assert.Equal(norm, clipper.LastNorm, 4);
            double factor = Math.Min(1, 1.0 / (norm + 1e-6));
            Numerics.AssertClose(ga.Select(x => x * factor).ToArray(), model.A.Grad!.ToArray(), 1e-5, $"clip ×{scale} on {backend.Name}");
        }
    }

    [Fact]
    public void Invalid_hyper_parameters_are_rejected_naming_the_value()
    {
        Assert.Contains("1.5", Assert.Throws<ArgumentOutOfRangeException>(() => new AdamWConfig(Beta1: 1.5).Validate()).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(0, 10).Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 10, DecayKind.Cosine, 5).Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new GradientClipper(TestBackends.Cpu, 0));
    }
}
