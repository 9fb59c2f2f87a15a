using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lddm.Kernels.Cpu;

/// <summary>The register-level pieces of <see cref="CpuGemm"/>: micro-kernels, the tile store, the 8 × 8 transpose.</summary>
internal static unsafe partial class CpuGemm
{
    /// <summary>dst[j·dstStride + i] = src[i·srcStride + j] for an 8 × 8 block (unpack, shuffle, lane swap).</summary>
    internal static void Transpose8x8(float* src, long srcStride, float* dst, int dstStride)
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

    /// <summary>
    /// tile (MR × NR) = Σ_p ap[p·aStep + r] · bp[p·NR + j]: 16 zmm accumulators, 2 loads + 8 broadcasts per step. A
    /// packed A sliver has aStep = MR; a transposed A read in place has its stored row length (each k-step's MR values
    /// are contiguous there too). With <paramref name="c"/> not null (a full
    /// tile), the epilogue writes C = α·tile + cβ·C straight from the registers instead of going through
    /// <paramref name="tile"/> and <see cref="Store"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512(int kc, float* ap, int aStep, float* bp, float* tile, float* c = null, int ldc = 0,
        float alpha = 1f, float cBeta = 0f)
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
            ap += aStep;
            bp += NR;
        }
        if (c != null)
        {
            var va = Vector512.Create(alpha);
            var vb = Vector512.Create(cBeta);
            bool read = cBeta != 0f;
            StoreRow(c, c00, c01, va, vb, read);
            StoreRow(c + ldc, c10, c11, va, vb, read);
            StoreRow(c + 2L * ldc, c20, c21, va, vb, read);
            StoreRow(c + 3L * ldc, c30, c31, va, vb, read);
            StoreRow(c + 4L * ldc, c40, c41, va, vb, read);
            StoreRow(c + 5L * ldc, c50, c51, va, vb, read);
            StoreRow(c + 6L * ldc, c60, c61, va, vb, read);
            StoreRow(c + 7L * ldc, c70, c71, va, vb, read);
            return;
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

    /// <summary>
    /// <see cref="Kernel512"/> with the MR rows of A read in place from row-major storage (row r of the sliver at
    /// a + r·lda, k-step p at +p) instead of a packed sliver: the same broadcasts and FMAs in the same order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512Rows(int kc, float* a, int lda, float* bp, float* tile, float* c = null, int ldc = 0,
        float alpha = 1f, float cBeta = 0f)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        float* a0 = a, a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda;
        float* a4 = a3 + lda, a5 = a4 + lda, a6 = a5 + lda, a7 = a6 + lda;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(bp);
            var b1 = Vector512.Load(bp + 16);
            var x = Vector512.Create(a0[p]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a1[p]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a2[p]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[p]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a4[p]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a5[p]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a6[p]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a7[p]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            bp += NR;
        }
        if (c != null)
        {
            var va = Vector512.Create(alpha);
            var vb = Vector512.Create(cBeta);
            bool read = cBeta != 0f;
            StoreRow(c, c00, c01, va, vb, read);
            StoreRow(c + ldc, c10, c11, va, vb, read);
            StoreRow(c + 2L * ldc, c20, c21, va, vb, read);
            StoreRow(c + 3L * ldc, c30, c31, va, vb, read);
            StoreRow(c + 4L * ldc, c40, c41, va, vb, read);
            StoreRow(c + 5L * ldc, c50, c51, va, vb, read);
            StoreRow(c + 6L * ldc, c60, c61, va, vb, read);
            StoreRow(c + 7L * ldc, c70, c71, va, vb, read);
            return;
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

    /// <summary>row[0..32) = α·(lo, hi) + cβ·row (row read only when <paramref name="read"/>), as <see cref="Store"/> does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(float* row, Vector512<float> lo, Vector512<float> hi, Vector512<float> va,
        Vector512<float> vb, bool read)
    {
        lo = va * lo;
        hi = va * hi;
        if (read)
        {
            lo = Vector512.FusedMultiplyAdd(vb, Vector512.Load(row), lo);
            hi = Vector512.FusedMultiplyAdd(vb, Vector512.Load(row + 16), hi);
        }
        lo.Store(row);
        hi.Store(row + 16);
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
