using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

/// <summary>
/// One single-matrix GEMM, C = α·op(A)·op(B) + β·C, in the BLIS shape: op(B) is packed in (KC × NC) panels of
/// NR-wide slivers, op(A) in (MC × KC) blocks of MR-tall slivers (transposes are absorbed by the packing, and
/// edges are zero-padded so the micro-kernel always runs a full MR × NR tile). The micro-kernel keeps the
/// MR × NR tile in 16 zmm accumulators and streams one A sliver (L1) against the B panel (L2).
/// </summary>
internal static unsafe class CpuGemm
{
    public const int MR = 8, NR = 32;
    public const int KC = 256, MC = 128, NC = 512;

    [ThreadStatic] private static float* t_aPack;
    [ThreadStatic] private static float* t_bPack;

    /// <summary>Scalar path for tiny matrices (and any shape): float accumulation, transposes by index.</summary>
    public static void Small(float* a, float* b, float* c, MatmulShape s)
    {
        int m = s.M, n = s.N, k = s.K;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float sum = 0;
                for (int q = 0; q < k; q++)
                {
                    float x = s.TransposeA ? a[q * m + i] : a[i * k + q];
                    float y = s.TransposeB ? b[j * k + q] : b[q * n + j];
                    sum = MathF.FusedMultiplyAdd(x, y, sum);
                }
                float* dst = c + i * n + j;
                *dst = s.Beta == 0f ? s.Alpha * sum : MathF.FusedMultiplyAdd(s.Beta, *dst, s.Alpha * sum);
            }
        }
    }

    /// <summary>C = α·op(A)·op(B) + β·C for one matrix; with <paramref name="parallel"/>, row blocks go to the cores.</summary>
    public static void Run(float* a, float* b, float* c, MatmulShape s, bool parallel)
    {
        int m = s.M, n = s.N, k = s.K;
        t_bPack = t_bPack != null ? t_bPack : Alloc(KC * NC);
        float* bp = t_bPack;
        int mBlocks = (m + MC - 1) / MC;
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            int slivers = (nc + NR - 1) / NR;
            // Split the panel's columns too when there are too few row blocks to feed every core.
            int threads = parallel ? CpuParallel.Threads : 1;
            int nParts = mBlocks >= 2 * threads ? 1 : Math.Min(slivers, (2 * threads + mBlocks - 1) / mBlocks);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                PackB(b, bp, s.TransposeB, n, k, jc, nc, pc, kc);
                // The first K block applies β to C; later blocks add to what the earlier ones wrote.
                float cBeta = pc == 0 ? s.Beta : 1f;
                int units = mBlocks * nParts;
                CpuParallel.For(units, parallel ? 1 : units, (start, end) =>
                {
                    for (int u = start; u < end; u++)
                    {
                        int ib = u / nParts, part = u % nParts;
                        int ic = ib * MC, mc = Math.Min(MC, m - ic);
                        int j0 = (int)((long)slivers * part / nParts), j1 = (int)((long)slivers * (part + 1) / nParts);
                        Block(a, bp, c, s, ic, mc, jc, nc, pc, kc, j0, j1, cBeta);
                    }
                });
            }
        }
    }

    private static float* Alloc(int floats) => (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);

    /// <summary>Packs op(A)[ic.., pc..] and runs the micro-kernel over B slivers [j0, j1) of the packed panel.</summary>
    private static void Block(float* a, float* bp, float* c, MatmulShape s, int ic, int mc, int jc, int nc, int pc,
        int kc, int j0, int j1, float cBeta)
    {
        t_aPack = t_aPack != null ? t_aPack : Alloc(KC * MC);
        float* ap = t_aPack;
        PackA(a, ap, s.TransposeA, s.M, s.K, ic, mc, pc, kc);
        float* tile = stackalloc float[MR * NR];
        int n = s.N;
        for (int ir = 0; ir < mc; ir += MR)
        {
            int mr = Math.Min(MR, mc - ir);
            for (int jr = j0; jr < j1; jr++)
            {
                int col = jr * NR, nr = Math.Min(NR, nc - col);
                if (Vector512.IsHardwareAccelerated)
                {
                    Kernel512(kc, ap + ir * kc, bp + col * kc, tile);
                }
                else
                {
                    Kernel256(kc, ap + ir * kc, bp + col * kc, tile);
                }
                Store(tile, c + (long)(ic + ir) * n + jc + col, n, mr, nr, s.Alpha, cBeta);
            }
        }
    }

    /// <summary>ap[sliver][p][r] = op(A)[ic + sliver·MR + r, pc + p], zero past row mc.</summary>
    private static void PackA(float* a, float* ap, bool transposed, int m, int k, int ic, int mc, int pc, int kc)
    {
        for (int ir = 0; ir < mc; ir += MR)
        {
            float* dst = ap + ir * kc;
            int mr = Math.Min(MR, mc - ir);
            if (transposed)
            {
                // A stored (k, m): the MR rows of a sliver are contiguous in each stored row.
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)(pc + p) * m + ic + ir;
                    float* d = dst + p * MR;
                    int r = 0;
                    for (; r < mr; r++) d[r] = src[r];
                    for (; r < MR; r++) d[r] = 0f;
                }
            }
            else
            {
                for (int r = 0; r < MR; r++)
                {
                    float* src = a + (long)(ic + ir + r) * k + pc;
                    if (r < mr)
                    {
                        for (int p = 0; p < kc; p++) dst[p * MR + r] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) dst[p * MR + r] = 0f;
                    }
                }
            }
        }
    }

    /// <summary>bp[sliver][p][j] = op(B)[pc + p, jc + sliver·NR + j], zero past column nc.</summary>
    private static void PackB(float* b, float* bp, bool transposed, int n, int k, int jc, int nc, int pc, int kc)
    {
        for (int col = 0; col < nc; col += NR)
        {
            float* dst = bp + col * kc;
            int nr = Math.Min(NR, nc - col);
            if (transposed)
            {
                // B stored (n, k): each output column is a contiguous run of a stored row.
                for (int j = 0; j < NR; j++)
                {
                    float* src = b + (long)(jc + col + j) * k + pc;
                    if (j < nr)
                    {
                        for (int p = 0; p < kc; p++) dst[p * NR + j] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) dst[p * NR + j] = 0f;
                    }
                }
            }
            else if (nr == NR && Vector512.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)(pc + p) * n + jc + col;
                    Vector512.Store(Vector512.Load(src), dst + p * NR);
                    Vector512.Store(Vector512.Load(src + 16), dst + p * NR + 16);
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)(pc + p) * n + jc + col;
                    float* d = dst + p * NR;
                    int j = 0;
                    for (; j < nr; j++) d[j] = src[j];
                    for (; j < NR; j++) d[j] = 0f;
                }
            }
        }
    }

    /// <summary>C[0..mr, 0..nr] = α·tile + cβ·C (C not read when cβ = 0).</summary>
    private static void Store(float* tile, float* c, int ldc, int mr, int nr, float alpha, float cBeta)
    {
        if (nr == NR && Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(alpha);
            var vb = Vector512.Create(cBeta);
            for (int r = 0; r < mr; r++)
            {
                float* row = c + (long)r * ldc;
                var lo = va * Vector512.Load(tile + r * NR);
                var hi = va * Vector512.Load(tile + r * NR + 16);
                if (cBeta != 0f)
                {
                    lo = Vector512.FusedMultiplyAdd(vb, Vector512.Load(row), lo);
                    hi = Vector512.FusedMultiplyAdd(vb, Vector512.Load(row + 16), hi);
                }
                lo.Store(row);
                hi.Store(row + 16);
            }
            return;
        }
        for (int r = 0; r < mr; r++)
        {
            float* row = c + (long)r * ldc;
            for (int j = 0; j < nr; j++)
            {
                float v = alpha * tile[r * NR + j];
                row[j] = cBeta == 0f ? v : MathF.FusedMultiplyAdd(cBeta, row[j], v);
            }
        }
    }

    /// <summary>tile (MR × NR) = Σ_p ap[p][r] · bp[p][j]: 16 zmm accumulators, 2 loads + 8 broadcasts per step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512(int kc, float* ap, float* bp, float* tile)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(bp);
            var b1 = Vector512.Load(bp + 16);
            var x = Vector512.Create(ap[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(ap[1]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(ap[2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(ap[3]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(ap[4]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(ap[5]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(ap[6]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(ap[7]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            ap += MR;
            bp += NR;
        }
        c00.Store(tile); c01.Store(tile + 16);
        c10.Store(tile + 32); c11.Store(tile + 48);
        c20.Store(tile + 64); c21.Store(tile + 80);
        c30.Store(tile + 96); c31.Store(tile + 112);
        c40.Store(tile + 128); c41.Store(tile + 144);
        c50.Store(tile + 160); c51.Store(tile + 176);
        c60.Store(tile + 192); c61.Store(tile + 208);
        c70.Store(tile + 224); c71.Store(tile + 240);
    }

    /// <summary>Fallback without AVX-512: the same tile in four 8-column passes of 8 ymm accumulators.</summary>
    private static void Kernel256(int kc, float* ap, float* bp, float* tile)
    {
        for (int q = 0; q < NR; q += 8)
        {
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
            Vector256<float> c4 = default, c5 = default, c6 = default, c7 = default;
            float* a = ap, b = bp + q;
            for (int p = 0; p < kc; p++)
            {
                var y = Vector256.Load(b);
                c0 = Vector256.FusedMultiplyAdd(Vector256.Create(a[0]), y, c0);
                c1 = Vector256.FusedMultiplyAdd(Vector256.Create(a[1]), y, c1);
                c2 = Vector256.FusedMultiplyAdd(Vector256.Create(a[2]), y, c2);
                c3 = Vector256.FusedMultiplyAdd(Vector256.Create(a[3]), y, c3);
                c4 = Vector256.FusedMultiplyAdd(Vector256.Create(a[4]), y, c4);
                c5 = Vector256.FusedMultiplyAdd(Vector256.Create(a[5]), y, c5);
                c6 = Vector256.FusedMultiplyAdd(Vector256.Create(a[6]), y, c6);
                c7 = Vector256.FusedMultiplyAdd(Vector256.Create(a[7]), y, c7);
                a += MR;
                b += NR;
            }
            c0.Store(tile + q); c1.Store(tile + NR + q); c2.Store(tile + 2 * NR + q); c3.Store(tile + 3 * NR + q);
            c4.Store(tile + 4 * NR + q); c5.Store(tile + 5 * NR + q); c6.Store(tile + 6 * NR + q); c7.Store(tile + 7 * NR + q);
        }
    }
}
