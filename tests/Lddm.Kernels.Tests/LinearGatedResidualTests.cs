using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The linear layer with the gated residual in its GEMM's epilogue against the float64 reference and against the
/// composition it replaces (linear into u, then the gated-residual kernel), on every backend: the CPU, the FP32 ILGPU
/// tiles, and the TF32 and BF16 tensor-core kernels (their emulation on the simulator; the GPU itself under
/// <c>LDDM_TEST_ILGPU_DEVICE</c>).
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
            var y64 = GatedReference(u64, bias, residual, gate, rows, tokens, outFeatures);
            // The tensor-core kernels multiply inputs rounded to TF32 / BF16: their float64 reference takes the same
            // rounded inputs (each product then exact), within FP32 accumulation error of Σ|x|·|w| (2⁻²² per term,
            // as MatmulMmaTests) plus the gated sum's own rounding.
            var magnitude = MatmulReference.Matmul(x.Select(v => Math.Abs(v)).ToArray(), w.Select(v => Math.Abs(v)).ToArray(), new float[n], 1,
                rows, outFeatures, inFeatures);
            var tensorCores = new (Backend Backend, Func<float, float>? Round)[]
            {
                (TestBackends.IlgpuMma, MatmulMmaTests.RoundTf32), (TestBackends.IlgpuMmaBf16, MatmulMmaBf16Tests.RoundBf16),
            };
            foreach (var (backend, round) in TestBackends.All.Select(b => (b, (Func<float, float>?)null)).Concat(tensorCores))
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
                if (round is null)
                {
                    double tol = Numerics.Tolerance(inFeatures);
                    Numerics.AssertClose(u64, u.ToArray(), tol, ctx + ", u");
                    Numerics.AssertClose(y64, y.ToArray(), tol, ctx + ", y");
                }
                else
                {
                    var ur = MatmulReference.Matmul(x.Select(round).ToArray(), w.Select(round).ToArray(), new float[n], 1, rows,
                        outFeatures, inFeatures);
                    var yr = GatedReference(ur, bias, residual, gate, rows, tokens, outFeatures);
                    var gotU = u.ToArray();
                    var gotY = y.ToArray();
                    for (int i = 0; i < n; i++)
                    {
                        double g = Math.Abs(gate[i / outFeatures / tokens * outFeatures + i % outFeatures]);
                        double accumulation = magnitude[i] * (inFeatures + 8) * Math.ScaleB(1, -22) + 1e-30;
                        double tolU = accumulation + Math.Abs(ur[i]) * Math.ScaleB(1, -23);
                        double tolY = g * tolU + (Math.Abs(residual[i]) + g * Math.Abs(ur[i])) * Math.ScaleB(1, -22);
                        if (!float.IsFinite(gotU[i]) || Math.Abs(gotU[i] - ur[i]) > tolU || Math.Abs(gotY[i] - yr[i]) > tolY)
                        {
                            throw new Xunit.Sdk.XunitException($"{ctx}: element {i}: u = {gotU[i]:R}, y = {gotY[i]:R}; " +
                                $"expected u {ur[i]:R} (±{tolU:E2}), y {yr[i]:R} (±{tolY:E2}) from the rounded inputs.");
                        }
                    }
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

    /// <summary>y = residual + gate[sequence]·(u + bias) in float64; <paramref name="u"/> gets the bias added.</summary>
    private static double[] GatedReference(double[] u, float[]? bias, float[] residual, float[] gate, int rows, int tokens,
        int outFeatures)
    {
        var y = new double[u.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < outFeatures; c++)
            {
                int i = r * outFeatures + c;
                u[i] += bias?[c] ?? 0;
                y[i] = residual[i] + (double)gate[r / tokens * outFeatures + c] * u[i];
            }
        }
        return y;
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
