using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class LinearOpTests(ITestOutputHelper output)
{
    /// <summary>∂x, ∂W and ∂bias of act(x·W + bias) against float64 finite differences, x of rank 2 or 3.</summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(LinearOp))]
    public void Linear_gradient_matches_finite_differences(SmallDim rows, SmallDim inFeatures, SmallDim outFeatures, int actIndex,
        bool withBias, bool rank3, int seed)
    {
        int r = OpDims.Even(rows, 4), k = OpDims.Clamp(inFeatures, 9), n = OpDims.Clamp(outFeatures, 11);
        var act = (Activation)Math.Abs(actIndex % 3);
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var x = Numerics.RandomFloats(rng, r * k);
            var w = Numerics.RandomFloats(rng, k * n);
            var bias = Numerics.RandomFloats(rng, n);
            int[] xShape = rank3 ? [2, r / 2, k] : [r, k];
            float[][] inputs = withBias ? [x, w, bias] : [x, w];
            int[][] shapes = withBias ? [xShape, [k, n], [n]] : [xShape, [k, n]];
            double err = GradCheck.Run(backend, $"Linear {act}", seed, inputs, shapes,
                t => LinearOp.Apply(t[0], t[1], withBias ? t[2] : null, act),
                v => Reference(v[0], v[1], withBias ? v[2] : null, r, k, n, act));
            output.WriteLine($"LinearOp {act} {backend.Name} ({r},{k})→{n} bias={withBias} rank3={rank3}: max rel err {err:E2}");
        }
    }

    /// <summary>
    /// The fused op computes what the two ops it replaces computed: the same forward bits, and gradients equal up to
    /// the order of the bias gradient's column sum; and x feeding two linear layers gets the sum of both gradients.
    /// </summary>
    [Property(MaxTest = 6)]
    public void Linear_equals_matmul_then_bias_activation_and_accumulates_over_consumers(int seed)
    {
        var rng = new Random(seed);
        int m = 3 + rng.Next(40), k = 2 + rng.Next(70), n = 2 + rng.Next(70);
        var act = (Activation)rng.Next(3);
        var xv = Numerics.RandomFloats(rng, m * k);
        var w1 = Numerics.RandomFloats(rng, k * n);
        var w2 = Numerics.RandomFloats(rng, k * n);
        var bv = Numerics.RandomFloats(rng, n);
        var gv = Numerics.RandomFloats(rng, m * n);
        foreach (var backend in TestBackends.All)
        {
            float[][] Run(bool fused)
            {
                using var tape = Tape.Begin();
                var x = Tensor.FromArray(backend, xv, m, k);
                var wa = Tensor.FromArray(backend, w1, k, n);
                var wb = Tensor.FromArray(backend, w2, k, n);
                var b = Tensor.FromArray(backend, bv, n);
                foreach (var t in new[] { x, wa, wb, b })
                {
                    t.RequiresGrad = true;
                }
                Tensor Layer(Tensor w) => fused ? LinearOp.Apply(x, w, b, act) : BiasActivationOp.Apply(MatmulOp.Apply(x, w), b, act);
                var ya = Layer(wa);
                var y = AddOp.Apply(ya, Layer(wb));
                y.Backward(gv);
                return [ya.ToArray(), x.Grad!.ToArray(), wa.Grad!.ToArray(), wb.Grad!.ToArray(), b.Grad!.ToArray()];
            }
            var fusedOut = Run(fused: true);
            var composed = Run(fused: false);
            string ctx = $"{act} on {backend.Name}, seed {seed}, ({m}, {k}) → {n}";
            Numerics.AssertBits(composed[0], fusedOut[0], ctx + ", y");
            string[] names = ["y", "∂x", "∂W₁", "∂W₂", "∂bias"];
            for (int o = 1; o < names.Length; o++)
            {
                Numerics.AssertClose(composed[o].Select(v => (double)v).ToArray(), fusedOut[o], Numerics.Tolerance(m + k + n, 4e-6), $"{ctx}, {names[o]}");
            }
        }
    }

    /// <summary>Without a recorded node (no tape, or gradients off) the pre-activation goes straight back to the pool.</summary>
    [Fact]
    public void Linear_keeps_no_pre_activation_when_no_backward_will_read_it()
    {
        using var backend = new Lddm.Kernels.Cpu.CpuBackend(1);
        var rng = new Random(3);
        using var x = Tensor.FromArray(backend, Numerics.RandomFloats(rng, 6 * 5), 6, 5);
        using var w = Tensor.FromArray(backend, Numerics.RandomFloats(rng, 5 * 7), 5, 7);
        w.RequiresGrad = true;
        long live = backend.PoolStatistics.LiveBytes;
        using (var y = LinearOp.Apply(x, w, null, Activation.GeluTanh))
        {
            Assert.Equal(live + 6 * 7 * sizeof(float), backend.PoolStatistics.LiveBytes); // y only
        }
        using (var tape = Tape.Begin())
        using (Grad.Off())
        {
            LinearOp.Apply(x, w, null, Activation.Silu);
            Assert.Equal(live + 6 * 7 * sizeof(float), backend.PoolStatistics.LiveBytes);
        }
        Assert.Equal(live, backend.PoolStatistics.LiveBytes);
        using (var tape = Tape.Begin())
        {
            LinearOp.Apply(x, w, null, Activation.Silu);
            Assert.Equal(live + 2 * 6 * 7 * sizeof(float), backend.PoolStatistics.LiveBytes); // y and the kept pre
        }
        Assert.Equal(live, backend.PoolStatistics.LiveBytes);
    }

    [Fact]
    public void Linear_rejects_mismatched_shapes_with_the_op_name()
    {
        using var tape = Tape.Begin();
        var backend = TestBackends.Cpu;
        var x = Tensor.Zeros(backend, new Shape(2, 3));
        var e1 = Assert.Throws<ArgumentException>(() => LinearOp.Apply(x, Tensor.Zeros(backend, new Shape(4, 5)), null, Activation.Identity));
        Assert.Contains("LinearOp", e1.Message);
        Assert.Contains("(2, 3)", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => LinearOp.Apply(x, Tensor.Zeros(backend, new Shape(3, 5)), Tensor.Zeros(backend, new Shape(4)), Activation.Silu));
        Assert.Contains("bias", e2.Message);
        Assert.Throws<ArgumentException>(() => LinearOp.Apply(x, Tensor.Zeros(backend, new Shape(3)), null, Activation.Identity));
    }

    /// <summary>∂residual, ∂gate, ∂x, ∂W and ∂bias of residual + gate·(x·W + bias) against float64 finite differences.</summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 8)]
    [GradCheckOf(typeof(GatedLinearOp))]
    public void Gated_linear_gradient_matches_finite_differences(SmallDim tokens, SmallDim inFeatures, SmallDim outFeatures,
        bool withBias, int seed)
    {
        int b = 2, t = OpDims.Clamp(tokens, 4), k = OpDims.Clamp(inFeatures, 7), n = OpDims.Clamp(outFeatures, 9), rows = b * t;
        foreach (var backend in TestBackends.All)
        {
            var rng = OpDims.InputRng(seed);
            var residual = Numerics.RandomFloats(rng, rows * n);
            var gate = Numerics.RandomFloats(rng, b * n);
            var x = Numerics.RandomFloats(rng, rows * k);
            var w = Numerics.RandomFloats(rng, k * n);
            var bias = Numerics.RandomFloats(rng, n);
            float[][] inputs = withBias ? [residual, gate, x, w, bias] : [residual, gate, x, w];
            int[][] shapes = withBias ? [[b, t, n], [b, n], [b, t, k], [k, n], [n]] : [[b, t, n], [b, n], [b, t, k], [k, n]];
            double err = GradCheck.Run(backend, "GatedLinear", seed, inputs, shapes,
                v => GatedLinearOp.Apply(v[0], v[1], v[2], v[3], withBias ? v[4] : null),
                v =>
                {
                    var u = Reference(v[2], v[3], withBias ? v[4] : null, rows, k, n, Activation.Identity);
                    return [.. u.Select((ui, i) => v[0][i] + v[1][i / n / t * n + i % n] * ui)];
                });
            output.WriteLine($"GatedLinearOp {backend.Name} ({b}·{t},{k})→{n} bias={withBias}: max rel err {err:E2}");
        }
    }

    /// <summary>
    /// The fused gated linear computes what linear + gated residual computed: the same forward bits and gradients on
    /// the CPU (the same float operations), close on the simulator; a residual that is also the layer's input (in = out)
    /// gets both gradients.
    /// </summary>
    [Property(MaxTest = 5)]
    public void Gated_linear_equals_linear_then_gated_residual(int seed)
    {
        var rng = new Random(seed);
        int b = 1 + rng.Next(3), t = 1 + rng.Next(30), n = 2 + rng.Next(70);
        var xv = Numerics.RandomFloats(rng, b * t * n);
        var gv = Numerics.RandomFloats(rng, b * n);
        var wv = Numerics.RandomFloats(rng, n * n);
        var bv = Numerics.RandomFloats(rng, n);
        var dy = Numerics.RandomFloats(rng, b * t * n);
        foreach (var backend in TestBackends.All)
        {
            float[][] Run(bool fused)
            {
                using var tape = Tape.Begin();
                var x = Tensor.FromArray(backend, xv, b, t, n);
                var g = Tensor.FromArray(backend, gv, b, n);
                var w = Tensor.FromArray(backend, wv, n, n);
                var bias = Tensor.FromArray(backend, bv, n);
                foreach (var p in new[] { x, g, w, bias })
                {
                    p.RequiresGrad = true;
                }
                // x is both the residual and the layer's input.
                var y = fused ? GatedLinearOp.Apply(x, g, x, w, bias) : GatedResidualOp.Apply(x, g, LinearOp.Apply(x, w, bias, Activation.Identity));
                var values = y.ToArray();
                y.Backward(dy);
                return [values, x.Grad!.ToArray(), g.Grad!.ToArray(), w.Grad!.ToArray(), bias.Grad!.ToArray()];
            }
            var fusedResult = Run(true);
            var composed = Run(false);
            string[] names = ["y", "∂x", "∂gate", "∂W", "∂bias"];
            for (int i = 0; i < names.Length; i++)
            {
                string ctx = $"gated linear vs composition on {backend.Name}, seed {seed}, ({b}, {t}, {n}): {names[i]}";
                double tol = backend is Lddm.Kernels.Cpu.CpuBackend ? 0 : Numerics.Tolerance(b * t * n);
                Numerics.AssertClose(composed[i].Select(v => (double)v).ToArray(), fusedResult[i], tol, ctx);
            }
        }
    }

    private static double[] Reference(double[] x, double[] w, double[]? bias, int rows, int k, int n, Activation act)
    {
        var y = new double[rows * n];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double u = bias is null ? 0 : bias[j];
                for (int q = 0; q < k; q++)
                {
                    u += x[i * k + q] * w[q * n + j];
                }
                y[i * n + j] = ActivationReference.Apply(act, u);
            }
        }
        return y;
    }
}
