using FsCheck.Xunit;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The BF16-input tensor-core GEMM (<c>MatmulMmaBf16IlgpuKernels</c>, <c>mma.sync.m16n8k16</c>). On the simulator it
/// runs its emulation path: the same kernel body, shared-memory layout of 16-bit halves and fragment indexing, the
/// product done from the documented m16n8k16 fragment layout. Checked like the TF32 kernel: tightly against the
/// float64 product of the BF16-rounded inputs, and within BF16 rounding (7 explicit mantissa bits) of the exact one.
/// </summary>
public sealed class MatmulMmaBf16Tests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 12)]
    public void Bf16_matmul_matches_the_reference_for_every_shape_transpose_broadcast_and_beta(SmallDim m, SmallDim n, SmallDim k,
        bool transposeA, bool transposeB, bool broadcastB, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(2);
        float alpha = (float)(rng.NextDouble() * 3 - 1.5), beta = rng.Next(3) switch { 0 => 0f, 1 => 1f, _ => -0.5f };
        AssertMatchesBf16(batch, m, n, k, transposeA, transposeB, alpha, beta, broadcastB, seed);
    }

    [Theory]
    [InlineData(false, false, 0f)]
    [InlineData(false, true, 1f)]
    [InlineData(true, false, 0.5f)]
    [InlineData(true, true, 0f)]
    public void Bf16_matmul_walks_many_k_slices_and_edge_tiles_in_every_layout(bool transposeA, bool transposeB, float beta) =>
        // Two row and column tiles, the second nearly empty; k = 70: 4 full 16-deep slices and a ragged one.
        AssertMatchesBf16(1, 130, 136, 70, transposeA, transposeB, 0.75f, beta, false, seed: 12);

    [Fact]
    public void Bf16_matmul_rounds_its_inputs_to_bf16()
    {
        // One 16 × 8 × 16 fragment: FP32 accumulation error is far below BF16 rounding (~2⁻⁹), so the tight comparison
        // with the rounded-input reference fails if the kernel multiplies unrounded (or TF32-rounded) inputs.
        Assert.True(TestBackends.IlgpuMmaBf16.MmaBf16);
        Assert.Contains("BF16", TestBackends.IlgpuMmaBf16.Name, StringComparison.Ordinal);
        for (int seed = 0; seed < 3; seed++)
        {
            AssertMatchesBf16(1, 16, 8, 16, false, false, 1f, 0f, false, seed);
        }
    }

    [Fact]
    public void Bf16_linear_layer_matches_its_matmul_then_bias_activation()
    {
        var backend = TestBackends.IlgpuMmaBf16;
        var rng = new Random(5);
        int rows = 70, inFeatures = 33, outFeatures = 45;
        var x = Numerics.RandomFloats(rng, rows * inFeatures);
        var w = Numerics.RandomFloats(rng, inFeatures * outFeatures);
        var bias = Numerics.RandomFloats(rng, outFeatures);
        using var bx = backend.Upload<float>(x);
        using var bw = backend.Upload<float>(w);
        using var bb = backend.Upload<float>(bias);
        using var pre = Numerics.Poisoned(backend, rows * outFeatures);
        using var y = Numerics.Poisoned(backend, rows * outFeatures);
        using var product = Numerics.Poisoned(backend, rows * outFeatures);
        using var expected = Numerics.Poisoned(backend, rows * outFeatures);
        backend.LinearForward(bx, bw, bb, rows, inFeatures, outFeatures, Activation.GeluTanh, pre, y);
        backend.Matmul(bx, bw, product, 1, rows, outFeatures, inFeatures);
        backend.BiasActivationForward(product, bb, rows, outFeatures, Activation.GeluTanh, expected);
        Numerics.AssertClose(product.ToArray().Select(v => (double)v).ToArray(), pre.ToArray(), 1e-6, "BF16 linear, pre");
        Numerics.AssertClose(expected.ToArray().Select(v => (double)v).ToArray(), y.ToArray(), 1e-6, "BF16 linear, y");
    }

    [Property(MaxTest = 300)]
    public void Bf16_rounding_is_round_to_nearest_even_on_7_mantissa_bits(uint bits)
    {
        float x = BitConverter.UInt32BitsToSingle(bits);
        uint got = MmaBf16.ToBf16(x);
        if (float.IsNaN(x))
        {
            Assert.True(float.IsNaN(BitConverter.UInt32BitsToSingle(got << 16)), $"NaN {bits:X8} became {got:X4}");
            return;
        }
        Assert.Equal(BitConverter.SingleToUInt32Bits(RoundBf16(x)) >> 16, got);
        // Ties: exactly half an ulp rounds to the even neighbour.
        uint tie = (bits & 0xFFFF0000u) | 0x8000u;
        float t = BitConverter.UInt32BitsToSingle(tie);
        if (float.IsFinite(t))
        {
            Assert.Equal(BitConverter.SingleToUInt32Bits(RoundBf16(t)) >> 16, MmaBf16.ToBf16(t));
        }
    }

    private static void AssertMatchesBf16(int batch, int m, int n, int k, bool transposeA, bool transposeB, float alpha, float beta,
        bool broadcastB, int seed) =>
        MatmulMmaTests.AssertMatchesRounded(TestBackends.IlgpuMmaBf16, "MatmulMmaBf16", RoundBf16, 7, batch, m, n, k, transposeA,
            transposeB, alpha, beta, broadcastB, seed);

    /// <summary>x rounded to 7 explicit mantissa bits, nearest, ties to even, in float64 (overflow gives ∞).</summary>
    internal static float RoundBf16(float x)
    {
        if (x == 0 || !float.IsFinite(x))
        {
            return x;
        }
        int e = Math.Max(Math.ILogB((double)x), -126);
        double ulp = Math.ScaleB(1.0, e - 7);
        return (float)(Math.Round(x / ulp, MidpointRounding.ToEven) * ulp);
    }
}
