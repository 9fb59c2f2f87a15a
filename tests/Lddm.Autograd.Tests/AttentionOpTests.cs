using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Autograd.Tests;

public sealed class AttentionOpTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(AttentionOp))]
    public void Fused_attention_gradient_matches_finite_differences_in_every_mode(SmallDim tDim, SmallDim dDim, byte modeByte, int seed)
    {
        int b = 2, h = 2, t = 1 + tDim % 7, d = 1 + dDim % 6;
        var mask = (AttentionMask)(modeByte % 4);
        int[] lengths = [t, Math.Max(1, t / 2)];
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            float[][] inputs = [.. Enumerable.Range(0, 3).Select(_ => Numerics.RandomFloats(rng, b * h * t * d))];
            int[] shape = [b, h, t, d];
            GradCheck.Run(backend, $"Attention {mask}", seed, inputs, [shape, shape, shape],
                ts =>
                {
                    var len = mask.HasFlag(AttentionMask.KeyPadding) ? IntTensor.FromArray(backend, lengths, b) : null;
                    return AttentionOp.Apply(ts[0], ts[1], ts[2], mask, len);
                },
                r => Reference(r[0], r[1], r[2], mask.HasFlag(AttentionMask.KeyPadding) ? lengths : null, b, h, t, d, mask));
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 5)]
    public void Fused_attention_agrees_with_the_composed_matmul_softmax_path(SmallDim tDim, bool causal, int seed)
    {
        int t = 1 + tDim % 9;
        foreach (var backend in TestBackends.All)
        {
            using var tape = Tape.Begin();
            var rng = new Random(seed);
            var q = Tensor.FromArray(backend, Numerics.RandomFloats(rng, 2 * 2 * t * 4), 2, 2, t, 4);
            var k = Tensor.FromArray(backend, Numerics.RandomFloats(rng, 2 * 2 * t * 4), 2, 2, t, 4);
            var v = Tensor.FromArray(backend, Numerics.RandomFloats(rng, 2 * 2 * t * 4), 2, 2, t, 4);
            var fused = AttentionOp.Apply(q, k, v, causal ? AttentionMask.Causal : AttentionMask.None).ToArray();
            var composed = ComposedAttention.Apply(q, k, v, causal).ToArray();
            Numerics.AssertClose(composed.Select(x => (double)x).ToArray(), fused, 1e-5, $"fused vs composed on {backend.Name}, T {t}");
        }
    }

    [Fact]
    public void Attention_rejects_mismatched_shapes_and_lengths()
    {
        using var tape = Tape.Begin();
        var backend = TestBackends.Cpu;
        var q = Tensor.Zeros(backend, new Shape(2, 2, 3, 4));
        var k = Tensor.Zeros(backend, new Shape(2, 2, 4, 4));
        Assert.Contains("(2, 2, 4, 4)", Assert.Throws<ArgumentException>(() => AttentionOp.Apply(q, k, q)).Message);
        var len = IntTensor.FromArray(backend, [1, 2, 3], 3);
        Assert.Contains("validLengths", Assert.Throws<ArgumentException>(() => AttentionOp.Apply(q, q, q, AttentionMask.KeyPadding, len)).Message);
    }

    /// <summary>Float64 attention (finite differences need float64 inputs); empty rows give 0.</summary>
    private static double[] Reference(double[] q, double[] k, double[] v, int[]? lengths, int b, int h, int t, int d, AttentionMask mask)
    {
        var o = new double[q.Length];
        double scale = 1 / Math.Sqrt(d);
        for (int bh = 0; bh < b * h; bh++)
        {
            int bb = bh / h, baseIndex = bh * t * d;
            for (int i = 0; i < t; i++)
            {
                var s = new double[t];
                double max = double.NegativeInfinity;
                for (int j = 0; j < t; j++)
                {
                    bool allowed = (!mask.HasFlag(AttentionMask.Causal) || j <= i) && (lengths is null || j < lengths[bb]);
                    s[j] = double.NegativeInfinity;
                    if (allowed)
                    {
                        s[j] = 0;
                        for (int c = 0; c < d; c++)
                        {
                            s[j] += q[baseIndex + i * d + c] * k[baseIndex + j * d + c] * scale;
                        }
                        max = Math.Max(max, s[j]);
                    }
                }
                if (double.IsNegativeInfinity(max))
                {
                    continue;
                }
                double sum = s.Sum(x => Math.Exp(x - max));
                for (int j = 0; j < t; j++)
                {
                    double p = Math.Exp(s[j] - max) / sum;
                    for (int c = 0; c < d; c++)
                    {
                        o[baseIndex + i * d + c] += p * v[baseIndex + j * d + c];
                    }
                }
            }
        }
        return o;
    }
}
