using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Autograd.Tests;

/// <summary>
/// Backward ops write a gradient (β = 0, no zero fill) when they are its first writer and add when another consumer
/// wrote first. These tests make tensors feed several consumers of every write-capable kind (matmul as a and as b,
/// add as a, as b and broadcast, reshape, transpose), so every order of first writer and later adder occurs, and
/// check the summed gradients against float64 finite differences; and a leaf's gradient must still accumulate across
/// two backward passes (gradient accumulation over micro-batches).
/// </summary>
public sealed class GradientWriteTests
{
    [Property(MaxTest = 6)]
    public void A_tensor_feeding_several_consumers_gets_the_sum_of_their_gradients(int seed)
    {
        var rng = new Random(seed);
        int m = 2 + rng.Next(4), n = 2 + rng.Next(4);
        var x = Numerics.RandomFloats(rng, m * n);
        var w = Numerics.RandomFloats(rng, n * n);
        var bias = Numerics.RandomFloats(rng, n);
        foreach (var backend in TestBackends.All)
        {
            // y = x·w + x + (x viewed (n, m)… viewed back) + ((wᵀ·xᵀ)ᵀ) + bias + bias
            //   = 2·x·w + 2·x + 2·bias, x reaching 4 consumers, w 2 and bias 2.
            GradCheck.Run(backend, "multi-consumer graph", seed, [x, w, bias], [[m, n], [n, n], [n]], t =>
            {
                var xw = MatmulOp.Apply(t[0], t[1]);
                var plusX = AddOp.Apply(xw, t[0]);
                var viewed = ReshapeOp.Apply(ReshapeOp.Apply(t[0], n, m), m, n);
                var s = AddOp.Apply(viewed, plusX);
                var wtxt = TransposeOp.Apply(MatmulOp.Apply(t[1], t[0], transposeA: true, transposeB: true), 0, 1);
                var total = AddOp.Apply(s, wtxt);
                return AddOp.Apply(AddOp.Apply(total, t[2]), t[2]);
            }, r => Reference(r[0], r[1], r[2], m, n));
        }
    }

    /// <summary>
    /// The adaLN ops and the activation write their activation-sized gradients when first and add otherwise: x feeds
    /// an activation (first writer in the backward), a gated residual as its residual and a modulation (adders) and a
    /// gated linear layer; y4's first writer is a modulation whose shift and scale are one tensor; y2 reaches a gated
    /// residual as both residual and input (the alias path) and is a summand; y5 is both a residual and a summand, and
    /// y1 both a gated residual's input and a summand. Checked against float64 finite differences.
    /// </summary>
    [Property(MaxTest = 5)]
    public void Modulation_gated_and_activation_gradients_are_written_first_and_added_after(int seed)
    {
        var rng = new Random(seed);
        int b = 1 + rng.Next(2), t = 1 + rng.Next(3), h = 2 + rng.Next(4);
        int n = b * t * h, m = b * h;
        float[][] inputs =
        [
            Numerics.RandomFloats(rng, n), Numerics.RandomFloats(rng, m), Numerics.RandomFloats(rng, m),
            Numerics.RandomFloats(rng, m), Numerics.RandomFloats(rng, h), Numerics.RandomFloats(rng, h * h),
        ];
        int[][] shapes = [[b, t, h], [b, h], [b, h], [b, h], [h], [h, h]];
        foreach (var backend in TestBackends.All)
        {
            GradCheck.Run(backend, "adaLN multi-consumer graph", seed, inputs, shapes, ts =>
            {
                var (x, shift, scale, gate, bias, w) = (ts[0], ts[1], ts[2], ts[3], ts[4], ts[5]);
                var y1 = ModulateOp.Apply(x, shift, scale);
                var y2 = GatedResidualOp.Apply(x, gate, y1);
                var y3 = GatedResidualOp.Apply(y2, gate, y2);
                var y4 = BiasActivationOp.Apply(y3, bias, Activation.Silu);
                var y5 = BiasActivationOp.Apply(x, bias, Activation.Silu);
                var y6 = ModulateOp.Apply(y4, gate, gate);
                var y7 = GatedLinearOp.Apply(y5, gate, x, w, bias);
                return AddOp.Apply(AddOp.Apply(AddOp.Apply(AddOp.Apply(y6, y7), y5), y1), y2);
            }, r => AdaLnReference(r, b, t, h));
        }
    }

    private static double[] AdaLnReference(double[][] r, int b, int t, int h)
    {
        var (x, shift, scale, gate, bias, w) = (r[0], r[1], r[2], r[3], r[4], r[5]);
        static double Silu(double u) => u / (1 + Math.Exp(-u));
        var output = new double[x.Length];
        for (int s = 0; s < b; s++)
        {
            for (int q = 0; q < t; q++)
            {
                int row = (s * t + q) * h;
                for (int j = 0; j < h; j++)
                {
                    int i = row + j, v = s * h + j;
                    double y1 = x[i] * (1 + scale[v]) + shift[v];
                    double y2 = x[i] + gate[v] * y1;
                    double y3 = y2 + gate[v] * y2;
                    double y4 = Silu(y3 + bias[j]);
                    double y5 = Silu(x[i] + bias[j]);
                    double y6 = y4 * (1 + gate[v]) + gate[v];
                    double u = bias[j];
                    for (int k = 0; k < h; k++)
                    {
                        u += x[row + k] * w[k * h + j];
                    }
                    output[i] = y6 + (y5 + gate[v] * u) + y5 + y1 + y2;
                }
            }
        }
        return output;
    }

    [Property(MaxTest = 4)]
    public void A_leaf_gradient_accumulates_across_two_backward_passes(int seed)
    {
        var rng = new Random(seed);
        int m = 2 + rng.Next(5), k = 2 + rng.Next(5), n = 2 + rng.Next(5);
        var xv = Numerics.RandomFloats(rng, m * k);
        var wv = Numerics.RandomFloats(rng, k * n);
        var g1 = Numerics.RandomFloats(rng, m * n);
        var g2 = Numerics.RandomFloats(rng, m * n);
        foreach (var backend in TestBackends.All)
        {
            using var x = Tensor.FromArray(backend, xv, m, k);
            using var w = Tensor.FromArray(backend, wv, k, n);
            x.RequiresGrad = true;
            w.RequiresGrad = true;
            foreach (var g in new[] { g1, g2 })
            {
                using var tape = Tape.Begin();
                var y = ReshapeOp.Apply(MatmulOp.Apply(x, w), m * n);
                y.Backward(g);
            }
            // ∂x = (g1 + g2)·wᵀ, ∂w = xᵀ·(g1 + g2), in float64.
            var dx = new double[m * k];
            var dw = new double[k * n];
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    double gs = (double)g1[i * n + j] + g2[i * n + j];
                    for (int q = 0; q < k; q++)
                    {
                        dx[i * k + q] += gs * wv[q * n + j];
                        dw[q * n + j] += gs * xv[i * k + q];
                    }
                }
            }
            Numerics.AssertClose(dx, x.Grad!.ToArray(), 1e-5, $"∂x after two passes on {backend.Name}, seed {seed}");
            Numerics.AssertClose(dw, w.Grad!.ToArray(), 1e-5, $"∂w after two passes on {backend.Name}, seed {seed}");
        }
    }

    private static double[] Reference(double[] x, double[] w, double[] bias, int m, int n)
    {
        var y = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double dot = 0;
                for (int q = 0; q < n; q++)
                {
                    dot += x[i * n + q] * w[q * n + j];
                }
                y[i * n + j] = 2 * dot + 2 * x[i * n + j] + 2 * bias[j];
            }
        }
        return y;
    }
}
