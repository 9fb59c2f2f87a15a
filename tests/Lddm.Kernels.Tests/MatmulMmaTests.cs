using FsCheck.Xunit;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The TF32 tensor-core GEMM (<c>MatmulMmaIlgpuKernels.MatmulMma</c>). On the simulator it runs its emulation path:
/// the same kernel body and fragment indexing, the <c>mma.sync.m16n8k8</c> product done from the documented fragment
/// layout through a per-warp shared-memory exchange, inputs rounded to TF32 as <c>cvt.rna.tf32.f32</c> does. Each result is checked twice
/// against float64: tightly (FP32 accumulation error only) against the product of the TF32-rounded inputs, and within
/// TF32 rounding against the product of the inputs as given.
/// </summary>
public sealed class MatmulMmaTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 12)]
    public void Mma_matmul_matches_the_reference_for_every_shape_transpose_broadcast_and_beta(SmallDim m, SmallDim n, SmallDim k,
        bool transposeA, bool transposeB, bool broadcastB, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(2);
        float alpha = (float)(rng.NextDouble() * 3 - 1.5), beta = rng.Next(3) switch { 0 => 0f, 1 => 1f, _ => -0.5f };
        AssertMatchesTf32(TestBackends.IlgpuMma, batch, m, n, k, transposeA, transposeB, alpha, beta, broadcastB, seed);
    }

    [Theory]
    [InlineData(false, false, 0f)]
    [InlineData(false, true, 1f)]
    [InlineData(true, false, 0.5f)]
    [InlineData(true, true, 0f)]
    public void Mma_matmul_walks_many_k_slices_and_edge_tiles_in_every_layout(bool transposeA, bool transposeB, float beta)
    {
        // 130 × 136: two row and column tiles, the second nearly empty; k = 70 = 4 full slices and a partial one,
        // not a multiple of 4 (every chunk of the last slice takes the guarded path).
        AssertMatchesTf32(TestBackends.IlgpuMma, 1, 130, 136, 70, transposeA, transposeB, 0.75f, beta, false, seed: 11);
    }

    [Fact]
    public void Mma_matmul_rounds_its_inputs_to_tf32()
    {
        // One 16 × 8 × 8 fragment: FP32 accumulation error (~2⁻²¹) is far below TF32 input rounding (~2⁻¹¹), so the
        // tight comparison with the rounded-input reference fails if the kernel multiplies unrounded inputs.
        for (int seed = 0; seed < 3; seed++)
        {
            AssertMatchesTf32(TestBackends.IlgpuMma, 1, 16, 8, 8, false, false, 1f, 0f, false, seed);
        }
    }

    [Property(MaxTest = 200)]
    public void Tf32_rounding_is_round_to_nearest_ties_away_on_10_mantissa_bits(uint bits)
    {
        float x = BitConverter.UInt32BitsToSingle(bits);
        uint got = Mma.RoundTf32Bits(bits);
        if (!float.IsFinite(x))
        {
            Assert.Equal(bits, got);
            return;
        }
        Assert.Equal(BitConverter.SingleToUInt32Bits(RoundTf32(x)), got);
        // Ties: exactly half an ulp (bit 12 alone set below the kept bits) rounds away from zero.
        uint tie = (bits & 0xFFFFE000u) | 0x1000u;
        if (float.IsFinite(BitConverter.UInt32BitsToSingle(tie)))
        {
            Assert.Equal(BitConverter.SingleToUInt32Bits(RoundTf32(BitConverter.UInt32BitsToSingle(tie))),
                Mma.RoundTf32Bits(tie));
        }
    }

    [Fact]
    public void The_mma_backend_runs_the_tensor_core_kernel_and_the_default_one_does_not()
    {
        Assert.True(TestBackends.IlgpuMma.UseMmaMatmul);
        Assert.Contains("mma", TestBackends.IlgpuMma.Name, StringComparison.Ordinal);
        if (Environment.GetEnvironmentVariable("LDDM_TEST_ILGPU_DEVICE")?.Trim().StartsWith("cuda", StringComparison.OrdinalIgnoreCase) == true
            && IlgpuBackend.MmaOptedIn)
        {
            // The GPU check: the real mma.sync kernel, not the simulator, is under test.
            Assert.Equal(BackendKind.Cuda, TestBackends.IlgpuMma.Kind);
        }
        if (Environment.GetEnvironmentVariable(IlgpuBackend.MmaEnvironmentVariable) != "1")
        {
            Assert.False(TestBackends.IlgpuCpu.UseMmaMatmul);
        }
    }

    /// <summary>x rounded to 10 mantissa bits, nearest, ties away from zero, in float64 (subnormals keep the
    /// fixed exponent −126).</summary>
    internal static float RoundTf32(float x)
    {
        if (x == 0)
        {
            return x;
        }
        int e = Math.Max(Math.ILogB((double)x), -126);
        double ulp = Math.ScaleB(1.0, e - 10);
        return (float)(Math.Round(x / ulp, MidpointRounding.AwayFromZero) * ulp);
    }

    internal static void AssertMatchesTf32(Backend backend, int batch, int m, int n, int k, bool transposeA,
        bool transposeB, float alpha, float beta, bool broadcastB, int seed) =>
        AssertMatchesRounded(backend, "MatmulMma (TF32)", RoundTf32, 10, batch, m, n, k, transposeA, transposeB, alpha, beta,
            broadcastB, seed);

    /// <summary>
    /// C from <paramref name="backend"/> against float64: within FP32 accumulation error of the product of the inputs
    /// rounded by <paramref name="round"/>, and within that rounding (<paramref name="mantissaBits"/> explicit bits, at
    /// most half an ulp per operand) of the product of the inputs as given.
    /// </summary>
    internal static void AssertMatchesRounded(Backend backend, string kernel, Func<float, float> round, int mantissaBits,
        int batch, int m, int n, int k, bool transposeA, bool transposeB, float alpha, float beta, bool broadcastB, int seed)
    {
        var rng = new Random(seed);
        var a = Numerics.RandomFloats(rng, batch * m * k);
        var b = Numerics.RandomFloats(rng, (broadcastB ? 1 : batch) * k * n);
        var c = beta == 0f ? Enumerable.Repeat(float.NaN, batch * m * n).ToArray() : Numerics.RandomFloats(rng, batch * m * n);
        using var da = backend.Upload<float>(a);
        using var db = backend.Upload<float>(b);
        using var dc = backend.Upload<float>(c);
        backend.Matmul(da, db, dc, batch, m, n, k, transposeA, transposeB, alpha, beta, broadcastB);
        var got = dc.ToArray();

        var ar = a.Select(round).ToArray();
        var br = b.Select(round).ToArray();
        var exact = MatmulReference.Matmul(a, b, c, batch, m, n, k, transposeA, transposeB, alpha, beta, broadcastB);
        var rounded = MatmulReference.Matmul(ar, br, c, batch, m, n, k, transposeA, transposeB, alpha, beta, broadcastB);
        var magnitude = MatmulReference.Matmul(ar.Select(x => Math.Abs(x)).ToArray(), br.Select(x => Math.Abs(x)).ToArray(), c, batch,
            m, n, k, transposeA, transposeB, 1, 0, broadcastB);
        string context = $"{kernel} on {backend.Name}, seed {seed}, batch {batch}, m {m}, n {n}, k {k}, " +
            $"transposeA {transposeA}, transposeB {transposeB}, alpha {alpha}, beta {beta}, broadcastB {broadcastB}";
        // Each operand carries ≤ 2^-(bits+1) relative rounding: ≤ 2^-bits + 2^-(2·bits+2) per product.
        double perProduct = Math.ScaleB(1, -mantissaBits) + Math.ScaleB(1, -2 * mantissaBits - 2);
        for (int i = 0; i < got.Length; i++)
        {
            double scale = Math.Abs(alpha) * magnitude[i] + (beta == 0f ? 0 : Math.Abs(beta * c[i]));
            // FP32 accumulation of k products (tensor cores truncate some partial sums: 2⁻²² per term, not 2⁻²⁴).
            double accumulation = scale * (k + 8) * Math.ScaleB(1, -22) + 1e-30;
            double inputs = Math.Abs(alpha) * magnitude[i] * perProduct + accumulation;
            if (!float.IsFinite(got[i]) || Math.Abs(got[i] - rounded[i]) > accumulation || Math.Abs(got[i] - exact[i]) > inputs)
            {
                int p = i / (m * n), row = i % (m * n) / n, col = i % n;
                throw new XunitException($"{context}: C[{p}, {row}, {col}] = {got[i]:R}, expected {rounded[i]:R} " +
                    $"(rounded inputs, tolerance {accumulation:E2}) and {exact[i]:R} (exact inputs, tolerance {inputs:E2}).");
            }
        }
    }
}
