using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
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
