using FsCheck.Xunit;
using Lddm.Kernels.Tests.Support;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The CPU GEMM reads a row-major A in place (full 8-row slivers; a partial last sliver is packed), and a transposed
/// A in place when a thread's rows are whole slivers (M a multiple of 8 on one thread; every thread's rectangle but
/// the last when not), else through packing. All feed the micro-kernel the same products in the same order, so C
/// from A must equal, bit for bit, C from Aᵀ stored transposed — on shapes with partial slivers, several row blocks
/// (M &gt; 128), one K block (K ≤ 512) and several (K &gt; 512, 256 deep), edge columns, β ≠ 0, and on 1 and 2 threads.
/// </summary>
public sealed class GemmInPlaceATests
{
    [Property(MaxTest = 12)]
    public void Row_major_a_read_in_place_equals_the_packed_transposed_a_bit_for_bit(int seed)
    {
        var rng = new Random(seed);
        // Every other case M is a multiple of 8: the transposed A is then read in place on one thread too.
        int m = 8 + rng.Next(300), n = 1 + rng.Next(150), k = 1 + rng.Next(1100);
        m = rng.Next(2) == 0 ? m / 8 * 8 : m;
        bool transposeB = rng.Next(2) == 0, betaOne = rng.Next(2) == 0;
        var a = Numerics.RandomFloats(rng, m * k);
        var at = new float[k * m];
        for (int i = 0; i < m; i++)
        {
            for (int p = 0; p < k; p++)
            {
                at[p * m + i] = a[i * k + p];
            }
        }
        var b = Numerics.RandomFloats(rng, k * n);
        var c0 = Numerics.RandomFloats(rng, m * n);
        foreach (var threads in new[] { 1, 2 })
        {
            using var backend = new Cpu.CpuBackend(threads);
            float[] Run(float[] x, bool transposeA)
            {
                using var da = backend.Upload<float>(x);
                using var db = backend.Upload<float>(b);
                using var dc = backend.Upload<float>(c0);
                backend.Matmul(da, db, dc, 1, m, n, k, transposeA, transposeB, alpha: 0.5f, beta: betaOne ? 1f : 0f);
                return dc.ToArray();
            }
            Numerics.AssertBits(Run(at, transposeA: true), Run(a, transposeA: false),
                $"C = A·B{(transposeB ? "ᵀ" : "")} in place vs packed, (m, n, k) = ({m}, {n}, {k}), β = {(betaOne ? 1 : 0)}, {threads} threads, seed {seed}");
        }
    }
}
