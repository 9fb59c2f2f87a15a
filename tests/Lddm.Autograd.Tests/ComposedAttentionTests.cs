using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class ComposedAttentionTests(ITestOutputHelper output)
{
    /// <summary>The composition (Matmul, Scale, Add mask, Softmax, Matmul) against float64 attention, causal or not.</summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 5)]
    public void Attention_composition_gradient_matches_finite_differences(SmallDim tDim, SmallDim dDim, bool causal, int seed)
    {
        int b = 1 + (seed & 1), heads = 1 + (seed >> 1 & 1), t = 1 + tDim % 4, d = 1 + dDim % 3;
        int[] shape = [b, heads, t, d];
        int n = b * heads * t * d;
        double worst = 0;
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var q = Numerics.RandomFloats(rng, n);
            var k = Numerics.RandomFloats(rng, n);
            var v = Numerics.RandomFloats(rng, n);
            worst = Math.Max(worst, GradCheck.Run(backend, $"Attention(causal={causal})", seed, [q, k, v], [shape, shape, shape],
                x => ComposedAttention.Apply(x[0], x[1], x[2], causal), r => Reference(r[0], r[1], r[2], b * heads, t, d, causal)));
        }
        output.WriteLine($"ComposedAttention (causal={causal}) worst relative gradient error {worst:E2}");
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Causal_outputs_do_not_depend_on_later_keys_or_values(string name)
    {
        var backend = TestBackends.Get(name);
        const int b = 1, heads = 2, t = 5, d = 3, cut = 2;
        int n = b * heads * t * d;
        var rng = new Random(7);
        var q = Numerics.RandomFloats(rng, n);
        var k = Numerics.RandomFloats(rng, n);
        var v = Numerics.RandomFloats(rng, n);
        var k2 = (float[])k.Clone();
        var v2 = (float[])v.Clone();
        for (int h = 0; h < heads; h++)
        {
            for (int i = cut + 1; i < t; i++)
            {
                for (int j = 0; j < d; j++)
                {
                    k2[(h * t + i) * d + j] += 10f;
                    v2[(h * t + i) * d + j] -= 10f;
                }
            }
        }
        using var tape = Tape.Begin();
        var y1 = Run(k, v).ToArray();
        var y2 = Run(k2, v2).ToArray();
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < t; i++)
            {
                for (int j = 0; j < d; j++)
                {
                    int at = (h * t + i) * d + j;
                    if (i <= cut)
                    {
                        Assert.Equal(y1[at], y2[at]);
                    }
                    else
                    {
                        Assert.NotEqual(y1[at], y2[at]);
                    }
                }
            }
        }

        Tensor Run(float[] keys, float[] values) => ComposedAttention.Apply(Tensor.FromArray(backend, q, b, heads, t, d),
            Tensor.FromArray(backend, keys, b, heads, t, d), Tensor.FromArray(backend, values, b, heads, t, d), causal: true);
    }

    [Fact]
    public void Attention_rejects_mismatched_shapes_naming_both_and_frees_intermediates_outside_a_tape()
    {
        var backend = TestBackends.Cpu;
        using (var tape = Tape.Begin())
        {
            var q = Tensor.Zeros(backend, new Shape(1, 2, 3, 4));
            var e = Assert.Throws<ArgumentException>(() => ComposedAttention.Apply(q, Tensor.Zeros(backend, new Shape(1, 2, 4, 4)), q));
            Assert.Contains("(1, 2, 3, 4)", e.Message);
            Assert.Contains("(1, 2, 4, 4)", e.Message);
        }
        var start = backend.PoolStatistics;
        using (var x = Tensor.Full(backend, new Shape(1, 1, 3, 2), 0.5f))
        using (var y = ComposedAttention.Apply(x, x, x, causal: true))
        {
            Assert.Equal(new[] { 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f }, y.ToArray());
        }
        Assert.Equal(start.LiveBuffers, backend.PoolStatistics.LiveBuffers);
    }

    private static double[] Reference(double[] q, double[] k, double[] v, int groups, int t, int d, bool causal)
    {
        var y = new double[q.Length];
        double scale = 1 / Math.Sqrt(d);
        var s = new double[t];
        for (int g = 0; g < groups; g++)
        {
            int o = g * t * d;
            for (int i = 0; i < t; i++)
            {
                int last = causal ? i : t - 1;
                double max = double.NegativeInfinity;
                for (int j = 0; j <= last; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < d; c++)
                    {
                        dot += q[o + i * d + c] * k[o + j * d + c];
                    }
                    s[j] = dot * scale;
                    max = Math.Max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j <= last; j++)
                {
                    s[j] = Math.Exp(s[j] - max);
                    sum += s[j];
                }
                for (int j = 0; j <= last; j++)
                {
                    for (int c = 0; c < d; c++)
                    {
                        y[o + i * d + c] += s[j] / sum * v[o + j * d + c];
                    }
                }
            }
        }
        return y;
    }
}
