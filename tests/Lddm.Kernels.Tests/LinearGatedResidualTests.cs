using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The linear layer with the gated residual in its GEMM's epilogue against the float64 reference and against the
/// composition it replaces (linear into u, then the gated-residual kernel), on every backend.
/// </summary>
public sealed class LinearGatedResidualTests
{
    [Property(MaxTest = 6)]
    public void Fused_gated_linear_matches_the_reference_and_the_composition(bool withBias, int seed)
    {
        var rng = new Random(seed);
        // Sizes on both sides of the CPU's small-GEMM and one-thread thresholds; widths ragged and multiples of 4.
        int batch = 1 + rng.Next(3), tokens = 1 + rng.Next(48), inFeatures = 1 + rng.Next(70);
        int drawn = 1 + rng.Next(140);
        foreach (int outFeatures in new[] { drawn, (drawn + 3) / 4 * 4 })
        {
            int rows = batch * tokens, n = rows * outFeatures;
            var x = Numerics.RandomFloats(rng, rows * inFeatures);
            var w = Numerics.RandomFloats(rng, inFeatures * outFeatures);
            var bias = withBias ? Numerics.RandomFloats(rng, outFeatures) : null;
            var residual = Numerics.RandomFloats(rng, n);
            var gate = Numerics.RandomFloats(rng, batch * outFeatures);
            var u64 = MatmulReference.Matmul(x, w, new float[n], 1, rows, outFeatures, inFeatures);
            var y64 = new double[n];
            for (int r = 0; r < rows; r++)
            {
                for (int c = 0; c < outFeatures; c++)
                {
                    int i = r * outFeatures + c;
                    u64[i] += bias?[c] ?? 0;
                    y64[i] = residual[i] + (double)gate[r / tokens * outFeatures + c] * u64[i];
                }
            }
            foreach (var backend in TestBackends.All.Append(TestBackends.IlgpuMma))
            {
                string ctx = $"LinearGatedResidualForward on {backend.Name}, seed {seed}, ({batch}·{tokens}, {inFeatures}) → {outFeatures}, bias {withBias}";
                using var bx = backend.Upload<float>(x);
                using var bw = backend.Upload<float>(w);
                using var bb = bias is null ? null : backend.Upload<float>(bias);
                using var br = backend.Upload<float>(residual);
                using var bg = backend.Upload<float>(gate);
                using var u = Numerics.Poisoned(backend, n);
                using var y = Numerics.Poisoned(backend, n);
                backend.LinearGatedResidualForward(bx, bw, bb, br, bg, batch, tokens, inFeatures, outFeatures, u, y);
                if (!ReferenceEquals(backend, TestBackends.IlgpuMma))
                {
                    // The tensor-core backend rounds to TF32: it is held to the composition below only.
                    double tol = Numerics.Tolerance(inFeatures);
                    Numerics.AssertClose(u64, u.ToArray(), tol, ctx + ", u");
                    Numerics.AssertClose(y64, y.ToArray(), tol, ctx + ", y");
                }

                // The composition: the same float operations (CPU: bit for bit).
                using var u2 = Numerics.Poisoned(backend, n);
                using var y2 = Numerics.Poisoned(backend, n);
                backend.LinearForward(bx, bw, bb, rows, inFeatures, outFeatures, Activation.Identity, null, u2);
                backend.GatedResidualForward(br, bg, u2, batch, tokens, outFeatures, y2);
                double same = backend.Name.StartsWith("cpu", StringComparison.Ordinal) ? 0 : 1e-6;
                Numerics.AssertClose(u2.ToArray().Select(v => (double)v).ToArray(), u.ToArray(), same, ctx + ", u vs composition");
                Numerics.AssertClose(y2.ToArray().Select(v => (double)v).ToArray(), y.ToArray(), same, ctx + ", y vs composition");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Bad_arguments_name_the_problem(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Full(2 * 3 * 4, 1f);
        using var w = backend.Full(4 * 5, 1f);
        using var r = backend.Full(2 * 3 * 5, 1f);
        using var g = backend.Full(2 * 5, 1f);
        using var u = backend.Allocate<float>(30);
        using var y = backend.Allocate<float>(30);
        using var shortGate = backend.Full(5, 1f);
        var e1 = Assert.Throws<ArgumentException>(() => backend.LinearGatedResidualForward(x, w, null, r, shortGate, 2, 3, 4, 5, u, y));
        Assert.Contains("'gate' has 5 elements", e1.Message);
        Assert.Contains("(2, 5)", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => backend.LinearGatedResidualForward(x, w, null, r, g, 2, 3, 4, 5, r, y));
        Assert.Contains("'u' must not alias 'residual'", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => backend.LinearGatedResidualForward(x, w, null, r, g, 3, 3, 4, 5, u, y));
        Assert.Contains("'x' has 24 elements", e3.Message);
    }
}
