using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

/// <summary>
/// Register-blocked micro-kernels of the CPU attention: 4 rows × 64 columns of Vector512 accumulators (16 FMAs per
/// 4 loads + 4 broadcasts), plus the vectorised exp. Key tiles are 64 wide; head dims are padded to 16 with zeros.
/// Each kernel has an AVX2 (Vector256) twin and a scalar twin for machines without AVX-512 (same loops, same results up to rounding).
/// </summary>
internal static unsafe partial class AttentionCpuKernels
{
    /// <summary>Key tile width: S tiles are (rows × 64), one row = four Vector512.</summary>
    public const int KeyTile = 64;

    /// <summary>s[m, 0..64) = Σ_{d&lt;D} a[m·lda + d] · bt[d·64 + j] for m &lt; M (M a multiple of 4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scores(float* a, int lda, float* bt, float* s, int M, int D)
    {
        if (!Vector512.IsHardwareAccelerated && Vector256.IsHardwareAccelerated)
        {
            Scores256(a, lda, bt, s, M, D);
            return;
        }
        if (!Vector512.IsHardwareAccelerated)
        {
            for (int m = 0; m < M; m++)
            {
                for (int j = 0; j < KeyTile; j++)
                {
                    float acc = 0;
                    for (int d = 0; d < D; d++)
                    {
                        acc = MathF.FusedMultiplyAdd(a[m * lda + d], bt[d * KeyTile + j], acc);
                    }
                    s[m * KeyTile + j] = acc;
                }
            }
            return;
        }
        for (int m = 0; m < M; m += 4)
        {
            float* a0 = a + m * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
            Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
            Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
            Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
            Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
            float* b = bt;
            for (int d = 0; d < D; d++, b += KeyTile)
            {
                var b0 = Vector512.Load(b);
                var b1 = Vector512.Load(b + 16);
                var b2 = Vector512.Load(b + 32);
                var b3 = Vector512.Load(b + 48);
                var x = Vector512.Create(a0[d]);
                c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
                c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
                x = Vector512.Create(a1[d]);
                c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
                c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
                x = Vector512.Create(a2[d]);
                c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
                c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
                x = Vector512.Create(a3[d]);
                c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
                c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
            }
            float* o = s + m * KeyTile;
            c00.Store(o); c01.Store(o + 16); c02.Store(o + 32); c03.Store(o + 48); o += KeyTile;
            c10.Store(o); c11.Store(o + 16); c12.Store(o + 32); c13.Store(o + 48); o += KeyTile;
            c20.Store(o); c21.Store(o + 16); c22.Store(o + 32); c23.Store(o + 48); o += KeyTile;
            c30.Store(o); c31.Store(o + 16); c32.Store(o + 32); c33.Store(o + 48);
        }
    }

    /// <summary>
    /// c[m, 0..dp) += Σ_{n&lt;N} a[m·am + n·an] · b[n·dp + ·] for m &lt; M (M a multiple of 4, dp a multiple of 16).
    /// With (am, an) = (64, 1) a is a row-major (M × 64) tile; with (1, 64) it is that tile transposed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Accumulate(float* a, int am, int an, float* b, float* c, int M, int N, int dp)
    {
        if (!Vector512.IsHardwareAccelerated && Vector256.IsHardwareAccelerated)
        {
            Accumulate256(a, am, an, b, c, M, N, dp);
            return;
        }
        if (!Vector512.IsHardwareAccelerated)
        {
            for (int m = 0; m < M; m++)
            {
                for (int n = 0; n < N; n++)
                {
                    float x = a[m * am + n * an];
                    for (int d = 0; d < dp; d++)
                    {
                        c[m * dp + d] = MathF.FusedMultiplyAdd(x, b[n * dp + d], c[m * dp + d]);
                    }
                }
            }
            return;
        }
        // Head dims below 64 (the small and tiny presets' D = 32 and 16) leave 32- or 16-wide column strips: those take
        // 8 rows at a time (16 or 8 accumulators) where 4 rows gave 8 or 4, too few to fill two FMA ports. Every
        // element still sums its n in order with one FMA each: the same bits.
        for (int m = 0; m < M;)
        {
            bool eight = M - m >= 8;
            int col = 0;
            for (; col + 64 <= dp; col += 64)
            {
                Block4x4(a + m * am, am, an, b + col, c + m * dp + col, N, dp);
                if (eight)
                {
                    Block4x4(a + (m + 4) * am, am, an, b + col, c + (m + 4) * dp + col, N, dp);
                }
            }
            for (; eight && col + 32 <= dp; col += 32)
            {
                Block8x2(a + m * am, am, an, b + col, c + m * dp + col, N, dp);
            }
            for (; col < dp; col += 16)
            {
                if (eight)
                {
                    Block8x1(a + m * am, am, an, b + col, c + m * dp + col, N, dp);
                }
                else
                {
                    Block4x1(a + m * am, am, an, b + col, c + m * dp + col, N, dp);
                }
            }
            m += eight ? 8 : 4;
        }
    }

    /// <summary>8 rows × 32 columns of c (16 accumulators): 2 loads and 8 broadcasts per 16 FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block8x2(float* a, int am, int an, float* b, float* c, int N, int dp)
    {
        float* r0 = c, r1 = r0 + dp, r2 = r1 + dp, r3 = r2 + dp, r4 = r3 + dp, r5 = r4 + dp, r6 = r5 + dp, r7 = r6 + dp;
        Vector512<float> c00 = Vector512.Load(r0), c01 = Vector512.Load(r0 + 16), c10 = Vector512.Load(r1), c11 = Vector512.Load(r1 + 16);
        Vector512<float> c20 = Vector512.Load(r2), c21 = Vector512.Load(r2 + 16), c30 = Vector512.Load(r3), c31 = Vector512.Load(r3 + 16);
        Vector512<float> c40 = Vector512.Load(r4), c41 = Vector512.Load(r4 + 16), c50 = Vector512.Load(r5), c51 = Vector512.Load(r5 + 16);
        Vector512<float> c60 = Vector512.Load(r6), c61 = Vector512.Load(r6 + 16), c70 = Vector512.Load(r7), c71 = Vector512.Load(r7 + 16);
        float* a0 = a, a1 = a0 + am, a2 = a1 + am, a3 = a2 + am, a4 = a3 + am, a5 = a4 + am, a6 = a5 + am, a7 = a6 + am;
        for (int n = 0; n < N; n++, b += dp)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            int k = n * an;
            var x = Vector512.Create(a0[k]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a1[k]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a2[k]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[k]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a4[k]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a5[k]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a6[k]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a7[k]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
        }
        c00.Store(r0); c01.Store(r0 + 16); c10.Store(r1); c11.Store(r1 + 16);
        c20.Store(r2); c21.Store(r2 + 16); c30.Store(r3); c31.Store(r3 + 16);
        c40.Store(r4); c41.Store(r4 + 16); c50.Store(r5); c51.Store(r5 + 16);
        c60.Store(r6); c61.Store(r6 + 16); c70.Store(r7); c71.Store(r7 + 16);
    }

    /// <summary>8 rows × 16 columns of c (8 accumulators): 1 load and 8 broadcasts per 8 FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block8x1(float* a, int am, int an, float* b, float* c, int N, int dp)
    {
        float* r0 = c, r1 = r0 + dp, r2 = r1 + dp, r3 = r2 + dp, r4 = r3 + dp, r5 = r4 + dp, r6 = r5 + dp, r7 = r6 + dp;
        Vector512<float> c0 = Vector512.Load(r0), c1 = Vector512.Load(r1), c2 = Vector512.Load(r2), c3 = Vector512.Load(r3);
        Vector512<float> c4 = Vector512.Load(r4), c5 = Vector512.Load(r5), c6 = Vector512.Load(r6), c7 = Vector512.Load(r7);
        float* a0 = a, a1 = a0 + am, a2 = a1 + am, a3 = a2 + am, a4 = a3 + am, a5 = a4 + am, a6 = a5 + am, a7 = a6 + am;
        for (int n = 0; n < N; n++, b += dp)
        {
            var b0 = Vector512.Load(b);
            int k = n * an;
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[k]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[k]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[k]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[k]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[k]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a5[k]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a6[k]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a7[k]), b0, c7);
        }
        c0.Store(r0); c1.Store(r1); c2.Store(r2); c3.Store(r3);
        c4.Store(r4); c5.Store(r5); c6.Store(r6); c7.Store(r7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block4x4(float* a, int am, int an, float* b, float* c, int N, int dp)
    {
        float* r0 = c, r1 = c + dp, r2 = r1 + dp, r3 = r2 + dp;
        Vector512<float> c00 = Vector512.Load(r0), c01 = Vector512.Load(r0 + 16), c02 = Vector512.Load(r0 + 32), c03 = Vector512.Load(r0 + 48);
        Vector512<float> c10 = Vector512.Load(r1), c11 = Vector512.Load(r1 + 16), c12 = Vector512.Load(r1 + 32), c13 = Vector512.Load(r1 + 48);
        Vector512<float> c20 = Vector512.Load(r2), c21 = Vector512.Load(r2 + 16), c22 = Vector512.Load(r2 + 32), c23 = Vector512.Load(r2 + 48);
        Vector512<float> c30 = Vector512.Load(r3), c31 = Vector512.Load(r3 + 16), c32 = Vector512.Load(r3 + 32), c33 = Vector512.Load(r3 + 48);
        float* a0 = a, a1 = a + am, a2 = a1 + am, a3 = a2 + am;
        for (int n = 0; n < N; n++, b += dp)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32);
            var b3 = Vector512.Load(b + 48);
            int k = n * an;
            var x = Vector512.Create(a0[k]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(a1[k]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(a2[k]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(a3[k]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
        }
        c00.Store(r0); c01.Store(r0 + 16); c02.Store(r0 + 32); c03.Store(r0 + 48);
        c10.Store(r1); c11.Store(r1 + 16); c12.Store(r1 + 32); c13.Store(r1 + 48);
        c20.Store(r2); c21.Store(r2 + 16); c22.Store(r2 + 32); c23.Store(r2 + 48);
        c30.Store(r3); c31.Store(r3 + 16); c32.Store(r3 + 32); c33.Store(r3 + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block4x1(float* a, int am, int an, float* b, float* c, int N, int dp)
    {
        float* r0 = c, r1 = c + dp, r2 = r1 + dp, r3 = r2 + dp;
        Vector512<float> c0 = Vector512.Load(r0), c1 = Vector512.Load(r1), c2 = Vector512.Load(r2), c3 = Vector512.Load(r3);
        float* a0 = a, a1 = a + am, a2 = a1 + am, a3 = a2 + am;
        for (int n = 0; n < N; n++, b += dp)
        {
            var b0 = Vector512.Load(b);
            int k = n * an;
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[k]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[k]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[k]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[k]), b0, c3);
        }
        c0.Store(r0); c1.Store(r1); c2.Store(r2); c3.Store(r3);
    }
}
