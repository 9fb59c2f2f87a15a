using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Autograd.Tests;

public sealed class QkvAttentionOpTests
{
    /// <summary>
    /// Finite differences of the float64 split → RoPE → attention → merge; mode 1 and 2 add a slice of qkv to the
    /// output, recorded before or after the attention, so the attention's backward is once the first writer of
    /// dqkv and once an adder.
    /// </summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(QkvAttentionOp))]
    public void Gradient_matches_finite_differences_with_rope_masks_and_a_second_consumer(SmallDim tDim, byte modeByte, int seed)
    {
        int b = 2, h = 2, t = 1 + tDim % 7, d = 2 * (1 + Math.Abs(seed % 3));
        var mask = (AttentionMask)(modeByte % 2);
        int consumer = modeByte / 2 % 3;
        float? theta = modeByte % 5 == 0 ? null : 100f;
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var qkv = Numerics.RandomFloats(rng, b * t * 3 * h * d);
            GradCheck.Run(backend, $"QkvAttention {mask}, consumer {consumer}, theta {theta}", seed, [qkv], [[b, t, 3 * h * d]],
                ts =>
                {
                    var early = consumer == 1 ? SliceOp.Apply(ts[0], 2, 0, h * d) : null;
                    var o = QkvAttentionOp.Apply(ts[0], h, theta, mask);
                    var late = consumer == 2 ? SliceOp.Apply(ts[0], 2, 0, h * d) : null;
                    return early is null && late is null ? o : AddOp.Apply(o, early ?? late!);
                },
                r =>
                {
                    var o = Reference(r[0], b, t, h, d, theta, mask);
                    if (consumer != 0)
                    {
                        for (int i = 0; i < o.Length; i++)
                        {
                            int row = i / (h * d), col = i % (h * d);
                            o[i] += r[0][row * 3 * h * d + col];
                        }
                    }
                    return o;
                });
        }
    }

    /// <summary>The new path against the copies it replaces: reshape → transpose → slices → RoPE → attention → transpose → reshape.</summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 5)]
    public void Forward_and_backward_equal_the_split_rope_attention_merge_composition(SmallDim tDim, bool causal, int seed)
    {
        int b = 2, h = 3, t = 1 + tDim % 40, d = 8;
        var mask = causal ? AttentionMask.Causal : AttentionMask.None;
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var values = Numerics.RandomFloats(rng, b * t * 3 * h * d, 2f);
            var upstream = Numerics.RandomFloats(rng, b * t * h * d);
            var (fusedO, fusedGrad) = RunPath(backend, values, upstream, x => QkvAttentionOp.Apply(x, h, 10_000f, mask), b, t, h, d);
            var (oldO, oldGrad) = RunPath(backend, values, upstream, x =>
            {
                var split = TransposeOp.Apply(ReshapeOp.Apply(x, b, t, 3 * h, d), 1, 2);
                var q = RopeOp.Apply(SliceOp.Apply(split, 1, 0, h), 10_000f);
                var k = RopeOp.Apply(SliceOp.Apply(split, 1, h, h), 10_000f);
                var v = SliceOp.Apply(split, 1, 2 * h, h);
                return ReshapeOp.Apply(TransposeOp.Apply(AttentionOp.Apply(q, k, v, mask), 1, 2), b, t, h * d);
            }, b, t, h, d);
            Numerics.AssertClose(oldO.Select(x => (double)x).ToArray(), fusedO, 2e-6, $"o on {backend.Name}, T {t}");
            Numerics.AssertClose(oldGrad.Select(x => (double)x).ToArray(), fusedGrad, 2e-6, $"dqkv on {backend.Name}, T {t}");
        }
    }

    [Fact]
    public void Rejects_a_width_that_is_not_three_heads_and_an_odd_head_dim_with_rope()
    {
        using var tape = Tape.Begin();
        var backend = TestBackends.Cpu;
        var bad = Tensor.Zeros(backend, new Shape(2, 3, 10));
        Assert.Contains("3 · heads · headDim", Assert.Throws<ArgumentException>(() => QkvAttentionOp.Apply(bad, 2, 10_000f)).Message);
        var odd = Tensor.Zeros(backend, new Shape(2, 3, 18));
        Assert.Contains("even", Assert.Throws<ArgumentOutOfRangeException>(() => QkvAttentionOp.Apply(odd, 2, 10_000f)).Message);
        Assert.Equal(new Shape(2, 3, 6), QkvAttentionOp.Apply(odd, 2, null).Shape); // no RoPE: odd head dims are fine
    }

    private static (float[] O, float[] Grad) RunPath(Backend backend, float[] values, float[] upstream,
        Func<Tensor, Tensor> path, int b, int t, int h, int d)
    {
        using var tape = Tape.Begin();
        var x = Tensor.FromArray(backend, values, b, t, 3 * h * d);
        x.RequiresGrad = true;
        var o = path(x);
        o.Backward(upstream);
        return (o.ToArray(), x.Grad!.ToArray());
    }

    /// <summary>Float64 split → RoPE (rotate_half) on q, k → attention → merge (B, T, H·D).</summary>
    private static double[] Reference(double[] qkv, int b, int t, int h, int d, float? theta, AttentionMask mask)
    {
        var o = new double[b * t * h * d];
        double scale = 1 / Math.Sqrt(d);
        double At(int bb, int tt, int j, int hh, int c) => qkv[(((bb * t + tt) * 3 + j) * h + hh) * d + c];
        double[] Row(int bb, int tt, int j, int hh)
        {
            var r = new double[d];
            for (int c = 0; c < d; c++)
            {
                r[c] = At(bb, tt, j, hh, c);
            }
            if (theta is float th && j < 2)
            {
                var y = new double[d];
                for (int i = 0; i < d / 2; i++)
                {
                    double a = tt * Math.Pow(th, -2.0 * i / d);
                    y[i] = r[i] * Math.Cos(a) - r[i + d / 2] * Math.Sin(a);
                    y[i + d / 2] = r[i + d / 2] * Math.Cos(a) + r[i] * Math.Sin(a);
                }
                return y;
            }
            return r;
        }
        for (int bb = 0; bb < b; bb++)
        {
            for (int hh = 0; hh < h; hh++)
            {
                for (int i = 0; i < t; i++)
                {
                    var q = Row(bb, i, 0, hh);
                    int keys = mask.HasFlag(AttentionMask.Causal) ? i + 1 : t;
                    var s = new double[keys];
                    for (int j = 0; j < keys; j++)
                    {
                        var k = Row(bb, j, 1, hh);
                        s[j] = q.Select((x, c) => x * k[c]).Sum() * scale;
                    }
                    double max = s.Max(), sum = s.Sum(x => Math.Exp(x - max));
                    for (int j = 0; j < keys; j++)
                    {
                        var v = Row(bb, j, 2, hh);
                        double p = Math.Exp(s[j] - max) / sum;
                        for (int c = 0; c < d; c++)
                        {
                            o[((bb * t + i) * h + hh) * d + c] += p * v[c];
                        }
                    }
                }
            }
        }
        return o;
    }
}
