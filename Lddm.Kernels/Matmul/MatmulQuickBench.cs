using Lddm.Kernels.Reference;

namespace Lddm.Kernels.Diagnostics;

/// <summary>
/// Batched GEMM at transformer shapes: the 1024³ headline, 512³, a projection A·Bᵀ (1024 tokens, 256 → 1024
/// features, weight stored (out, in)) and attention-like scores (32 heads of 128 × 128 × 64).
/// FLOPs per call: 2·batch·m·n·k. On a GPU (CUDA/OpenCL) also 4096³.
/// </summary>
internal sealed class MatmulQuickBench : IQuickBench
{
    public int Order => 10;

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var backend = context.Backend;
        if (backend.Kind == BackendKind.IlgpuCpu)
        {
            yield return Measure(context, "matmul", 1, 32, 32, 32, false, false);
            yield return Measure(context, "matmul A·Bᵀ batched", 2, 16, 32, 16, false, true);
            yield break;
        }
        yield return Measure(context, "matmul", 1, 1024, 1024, 1024, false, false);
        yield return Measure(context, "matmul", 1, 512, 512, 512, false, false);
        yield return Measure(context, "matmul A·Bᵀ (projection)", 1, 1024, 1024, 256, false, true);
        yield return Measure(context, "matmul batched (attention)", 32, 128, 128, 64, false, true);
        if (backend.Kind is BackendKind.Cuda or BackendKind.OpenCL)
        {
            // A GPU's headline size: 4096³ (137 GFLOP per call) fills every SM many times over.
            yield return Measure(context, "matmul", 1, 4096, 4096, 4096, false, false);
        }
    }

    private static BenchRow Measure(BenchContext context, string name, int batch, int m, int n, int k, bool ta,
        bool tb)
    {
        var backend = context.Backend;
        var rng = new Random(1);
        var a = QuickBench.RandomFloats(rng, batch * m * k);
        var b = QuickBench.RandomFloats(rng, batch * k * n);
        using var da = backend.Upload<float>(a);
        using var db = backend.Upload<float>(b);
        using var dc = backend.Full(batch * m * n, float.NaN);
        backend.Matmul(da, db, dc, batch, m, n, k, ta, tb);
        // Tensor-core inputs carry 2^-(bits+1) relative rounding per operand: TF32 10 explicit mantissa bits, BF16 7.
        int inputBits = backend is Ilgpu.IlgpuBackend { UseMmaMatmul: true } mma ? (mma.MmaBf16 ? 7 : 10) : 23;
        if (inputBits < 23)
        {
            name += inputBits == 7 ? " (BF16 mma)" : " (TF32 mma)";
        }
        Validate(a, b, dc.ToArray(), batch, m, n, k, ta, tb, name, inputBits);
        double t = QuickBench.Time(backend, () => backend.Matmul(da, db, dc, batch, m, n, k, ta, tb),
            context.SecondsPerKernel);
        string shape = batch == 1 ? $"{m}x{n}x{k}" : $"{batch}x{m}x{n}x{k}";
        return new BenchRow(name, shape, backend.Kind.ToString().ToLowerInvariant(), t, 2.0 * batch * m * n * k,
            ComputeBound: true);
    }

    /// <summary>Checks 512 random entries (and the last one) against the float64 reference dot product.</summary>
    private static void Validate(float[] a, float[] b, float[] got, int batch, int m, int n, int k, bool ta, bool tb,
        string name, int inputBits)
    {
        var rng = new Random(2);
        for (int s = 0; s <= 512; s++)
        {
            int i = s == 512 ? got.Length - 1 : rng.Next(got.Length);
            int p = i / (m * n), row = i / n % m, col = i % n;
            double expected = MatmulReference.Dot(a, b, p, row, col, m, n, k, ta, tb, broadcastB: false);
            // Unit-range inputs: a k-term dot product carries about √k·1e-7 relative rounding; with rounded inputs
            // (≤ 2^-(bits+1) per operand) about √k·2^-bits·E|ab| (TF32: √k·2.4e-4, BF16: √k·2e-3): allowed 2·2^-bits·√k.
            double tol = inputBits < 23 ? 2 * Math.ScaleB(1, -inputBits) * Math.Sqrt(k) : 1e-3 * (1 + Math.Abs(expected));
            if (!(Math.Abs(got[i] - expected) <= tol))
            {
                throw new InvalidOperationException(
                    $"{name} is wrong at {i}: {got[i]} vs {expected}; not timing it.");
            }
        }
    }
}
