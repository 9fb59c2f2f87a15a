using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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

    /// <summary>
    /// C = α·op(A)·op(B) + β·C for one matrix. With <paramref name="parallel"/>, each core takes its own band of
    /// columns (or rows, when C is narrow) and runs a whole GEMM on it, packing its own panels: no
    /// synchronisation, and B — the larger operand to pack — is still packed once.
    /// </summary>
    public static void Run(float* a, float* b, float* c, MatmulShape s, bool parallel)
    {
        int threads = parallel ? CpuParallel.Threads : 1;
        if (threads > 1 && s.N >= threads * 2 * NR)
        {
            CpuParallel.For(threads, 1, (start, end) =>
            {
                for (int t = start; t < end; t++)
                {
                    Rectangle(a, b, c, s, 0, s.M, Split(s.N, NR, t, threads), Split(s.N, NR, t + 1, threads));
                }
            });
        }
        else if (threads > 1 && s.M >= threads * 2 * MR)
        {
            CpuParallel.For(threads, 1, (start, end) =>
            {
                for (int t = start; t < end; t++)
                {
                    Rectangle(a, b, c, s, Split(s.M, MR, t, threads), Split(s.M, MR, t + 1, threads), 0, s.N);
                }
            });
        }
        else
        {
            Rectangle(a, b, c, s, 0, s.M, 0, s.N);
        }
    }

    /// <summary>The t-th of <paramref name="parts"/> boundaries of [0, n), on multiples of <paramref name="unit"/>.</summary>
    private static int Split(int n, int unit, int t, int parts) =>
        t >= parts ? n : (int)Math.Min(n, (long)(n + unit - 1) / unit * t / parts * unit);

    /// <summary>C[i0..i1, j0..j1] = α·op(A)·op(B) + β·C on the calling thread, through its own packing buffers.</summary>
    private static void Rectangle(float* a, float* b, float* c, MatmulShape s, int i0, int i1, int j0, int j1)
    {
        t_bPack = t_bPack != null ? t_bPack : Alloc(KC * NC);
        t_aPack = t_aPack != null ? t_aPack : Alloc(KC * MC);
        float* bp = t_bPack, ap = t_aPack;
        for (int jc = j0; jc < j1; jc += NC)
        {
            int nc = Math.Min(NC, j1 - jc);
            for (int pc = 0; pc < s.K; pc += KC)
            {
                int kc = Math.Min(KC, s.K - pc);
                PackB(b, bp, s.TransposeB, s.N, s.K, jc, nc, pc, kc);
                // The first K block applies β to C; later blocks add to what the earlier ones wrote.
                float cBeta = pc == 0 ? s.Beta : 1f;
                for (int ic = i0; ic < i1; ic += MC)
                {
                    int mc = Math.Min(MC, i1 - ic);
                    PackA(a, ap, s.TransposeA, s.M, s.K, ic, mc, pc, kc);
                    Block(ap, bp, c + (long)ic * s.N + jc, s.N, mc, nc, kc, s.Alpha, cBeta);
                }
            }
        }
    }

    private static float* Alloc(int floats) => (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);

    /// <summary>C block (mc × nc, leading dimension ldc) from packed A (mc × kc) and packed B (kc × nc).</summary>
    private static void Block(float* ap, float* bp, float* c, int ldc, int mc, int nc, int kc, float alpha,
        float cBeta)
    {
        float* tile = stackalloc float[MR * NR];
        for (int ir = 0; ir < mc; ir += MR)
        {
            int mr = Math.Min(MR, mc - ir);
            for (int col = 0; col < nc; col += NR)
            {
                int nr = Math.Min(NR, nc - col);
                if (Vector512.IsHardwareAccelerated)
                {
                    Kernel512(kc, ap + ir * kc, bp + col * kc, tile);
                }
                else
                {
                    Kernel256(kc, ap + ir * kc, bp + col * kc, tile);
                }
                Store(tile, c + (long)ir * ldc + col, ldc, mr, nr, alpha, cBeta);
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
            else if (mr == MR && Avx.IsSupported)
            {
                // A stored (m, k): 8 × 8 register transposes turn 8 row streams into contiguous k-steps.
                float* src = a + (long)(ic + ir) * k + pc;
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                {
                    Transpose8x8(src + p, k, dst + p * MR, MR);
                }
                for (; p < kc; p++)
                {
                    for (int r = 0; r < MR; r++) dst[p * MR + r] = src[(long)r * k + p];
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
            if (transposed && nr == NR && Avx.IsSupported)
            {
                // B stored (n, k): 8 × 8 register transposes of 8 stored rows give 8 k-steps of 8 columns.
                float* src = b + (long)(jc + col) * k + pc;
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                {
                    for (int j = 0; j < NR; j += 8)
                    {
                        Transpose8x8(src + (long)j * k + p, k, dst + p * NR + j, NR);
                    }
                }
                for (; p < kc; p++)
                {
                    for (int j = 0; j < NR; j++) dst[p * NR + j] = src[(long)j * k + p];
                }
            }
            else if (transposed)
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

    /// <summary>dst[j·dstStride + i] = src[i·srcStride + j] for an 8 × 8 block (unpack, shuffle, lane swap).</summary>
    private static void Transpose8x8(float* src, long srcStride, float* dst, int dstStride)
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + srcStride);
        var r2 = Avx.LoadVector256(src + 2 * srcStride);
        var r3 = Avx.LoadVector256(src + 3 * srcStride);
        var r4 = Avx.LoadVector256(src + 4 * srcStride);
        var r5 = Avx.LoadVector256(src + 5 * srcStride);
        var r6 = Avx.LoadVector256(src + 6 * srcStride);
        var r7 = Avx.LoadVector256(src + 7 * srcStride);
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(u3, u7, 0x31));
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
