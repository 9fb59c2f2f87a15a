using FsCheck.Xunit;
using Lddm.Kernels.Cpu;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// <see cref="Backend.LinearForward"/>: y = act(x·W + bias) with the pre-activation x·W kept for non-identity
/// activations. Against the float64 reference on every backend; on the CPU the epilogue fused into the GEMM's tile loop
/// must give exactly the bits of <see cref="Backend.Matmul"/> followed by <see cref="Backend.BiasActivationForward"/>,
/// on 1, 2 and 3 threads, including shapes whose K spans several K blocks (the epilogue must wait for the last).
/// </summary>
public sealed class LinearForwardTests : IDisposable
{
    private static readonly Activation[] s_all = [Activation.Identity, Activation.GeluTanh, Activation.Silu];
    private readonly CpuBackend[] _threads = [new CpuBackend(1), new CpuBackend(2), new CpuBackend(3)];

    public void Dispose()
    {
        foreach (var b in _threads)
        {
            b.Dispose();
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void Matches_the_reference_on_every_backend(SmallDim rows, SmallDim inFeatures, SmallDim outFeatures, bool withBias, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            foreach (var act in s_all)
            {
                var rng = new Random(seed);
                var x = Numerics.RandomFloats(rng, rows * inFeatures);
                var w = Numerics.RandomFloats(rng, inFeatures * outFeatures);
                var bias = withBias ? Numerics.RandomFloats(rng, outFeatures) : [];
                var (pre, y) = Run(backend, x, w, withBias ? bias : null, rows, inFeatures, outFeatures, act);
                var product = MatmulReference.Matmul(x, w, [], 1, rows, outFeatures, inFeatures);
                var expectedY = product.Select((p, i) => ActivationReference.Apply(act, p + (withBias ? bias[i % outFeatures] : 0))).ToArray();
                string ctx = $"LinearForward {act} on {backend.Name}, seed {seed}, ({rows}, {inFeatures}) → {outFeatures}, bias {withBias}";
                double tol = Numerics.Tolerance(inFeatures);
                Numerics.AssertClose(expectedY, y, tol, ctx + ", y");
                if (act != Activation.Identity)
                {
                    Numerics.AssertClose(product, pre!, tol, ctx + ", pre");
                }
            }
        }
    }

    /// <summary>Large enough for the fused CPU path (past the small and serial thresholds) and for 2-D thread grids.</summary>
    [Property(MaxTest = 8)]
    public void Cpu_fused_epilogue_gives_the_bits_of_matmul_then_bias_activation_on_any_thread_count(bool withBias, int seed)
    {
        var rng = new Random(seed);
        int rows = 9 + rng.Next(300), inFeatures = 20 + rng.Next(600), outFeatures = 20 + rng.Next(300);
        var act = s_all[rng.Next(3)];
        var x = Numerics.RandomFloats(rng, rows * inFeatures);
        var w = Numerics.RandomFloats(rng, inFeatures * outFeatures);
        var bias = withBias ? Numerics.RandomFloats(rng, outFeatures) : null;
        string ctx = $"LinearForward {act}, seed {seed}, ({rows}, {inFeatures}) → {outFeatures}, bias {withBias}";
        foreach (var backend in _threads)
        {
            var (pre, y) = Run(backend, x, w, bias, rows, inFeatures, outFeatures, act);
            var (product, expected) = Composed(backend, x, w, bias, rows, inFeatures, outFeatures, act);
            Numerics.AssertBits(expected, y, $"{ctx}, {backend.Threads} threads, y");
            if (act != Activation.Identity)
            {
                Numerics.AssertBits(product, pre!, $"{ctx}, {backend.Threads} threads, pre");
            }
        }
    }

    /// <summary>
    /// The ILGPU linear kernels (FP32 tiles, and the tensor-core kernel's emulation) store what their GEMM followed by
    /// the bias-activation kernel store, on shapes with ragged edge tiles and several K slices.
    /// </summary>
    [Property(MaxTest = 4)]
    public void Ilgpu_linear_kernels_give_what_matmul_then_bias_activation_give(bool withBias, int seed)
    {
        var rng = new Random(seed);
        int rows = 1 + rng.Next(140), inFeatures = 1 + rng.Next(40), drawn = 1 + rng.Next(140);
        // The drawn width, and a multiple of 4 (the FP32 kernel's quad stores of the product and y).
        foreach (int outFeatures in new[] { drawn, (drawn + 3) / 4 * 4 })
        {
            var x = Numerics.RandomFloats(rng, rows * inFeatures);
            var w = Numerics.RandomFloats(rng, inFeatures * outFeatures);
            var bias = withBias ? Numerics.RandomFloats(rng, outFeatures) : null;
            foreach (var backend in new Backend[] { TestBackends.IlgpuCpu, TestBackends.IlgpuMma })
            {
                foreach (var act in s_all)
                {
                    var (pre, y) = Run(backend, x, w, bias, rows, inFeatures, outFeatures, act);
                    var (product, expected) = Composed(backend, x, w, bias, rows, inFeatures, outFeatures, act);
                    string ctx = $"LinearForward {act} on {backend.Name}, seed {seed}, ({rows}, {inFeatures}) → {outFeatures}, bias {withBias}";
                    Numerics.AssertClose(expected.Select(v => (double)v).ToArray(), y, 1e-6, ctx + ", y");
                    if (act != Activation.Identity)
                    {
                        Numerics.AssertClose(product.Select(v => (double)v).ToArray(), pre!, 1e-6, ctx + ", pre");
                    }
                }
            }
        }
    }

    [Fact]
    public void Bad_arguments_name_the_problem()
    {
        var backend = TestBackends.Cpu;
        using var x = backend.Full(6, 1f);
        using var w = backend.Full(6, 1f);
        using var y = backend.Allocate<float>(4);
        using var pre = backend.Allocate<float>(4);
        using var shortBias = backend.Full(1, 0f);
        var e1 = Assert.Throws<ArgumentNullException>(() => backend.LinearForward(x, w, null, 2, 3, 2, Activation.GeluTanh, null, y));
        Assert.Contains("pre", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => backend.LinearForward(x, w, null, 2, 3, 2, Activation.Identity, pre, y));
        Assert.Contains("Identity", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => backend.LinearForward(x, w, null, 2, 3, 2, Activation.Silu, y, y));
        Assert.Contains("different", e3.Message);
        var e4 = Assert.ThrowsAny<ArgumentException>(() => backend.LinearForward(x, w, shortBias, 2, 3, 2, Activation.Identity, null, y));
        Assert.Contains("bias", e4.Message);
        var e5 = Assert.ThrowsAny<ArgumentException>(() => backend.LinearForward(x, w, null, 2, 4, 2, Activation.Identity, null, y));
        Assert.Contains("LinearForward", e5.Message);
    }

    private static (float[]? Pre, float[] Y) Run(Backend backend, float[] x, float[] w, float[]? bias, int rows, int inFeatures,
        int outFeatures, Activation act)
    {
        using var bx = backend.Upload<float>(x);
        using var bw = backend.Upload<float>(w);
        using var bb = bias is null ? null : backend.Upload<float>(bias);
        using var y = Numerics.Poisoned(backend, rows * outFeatures);
        using var pre = act == Activation.Identity ? null : Numerics.Poisoned(backend, rows * outFeatures);
        backend.LinearForward(bx, bw, bb, rows, inFeatures, outFeatures, act, pre, y);
        return (pre?.ToArray(), y.ToArray());
    }

    /// <summary>What the composition gives: the product x·W (Matmul) and act(product + bias) (BiasActivationForward).</summary>
    private static (float[] Product, float[] Y) Composed(Backend backend, float[] x, float[] w, float[]? bias, int rows,
        int inFeatures, int outFeatures, Activation act)
    {
        using var bx = backend.Upload<float>(x);
        using var bw = backend.Upload<float>(w);
        using var bb = bias is null ? null : backend.Upload<float>(bias);
        using var product = Numerics.Poisoned(backend, rows * outFeatures);
        using var y = Numerics.Poisoned(backend, rows * outFeatures);
        backend.Matmul(bx, bw, product, 1, rows, outFeatures, inFeatures);
        backend.BiasActivationForward(product, bb, rows, outFeatures, act, y);
        return (product.ToArray(), y.ToArray());
    }
}
