using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

/// <summary>The AVX2 (Vector256) twins of the attention micro-kernels, for CPUs without AVX-512.</summary>
internal static unsafe partial class AttentionCpuKernels
{
    /// <summary>AVX2 twin of <see cref="Scores"/>: 4 rows × 16 columns (8 ymm accumulators) per block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores256(float* a, int lda, float* bt, float* s, int M, int D)
    {
        for (int m = 0; m < M; m += 4)
        {
            float* a0 = a + m * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
            for (int col = 0; col < KeyTile; col += 16)
            {
                Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
                Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
                float* b = bt + col;
                for (int d = 0; d < D; d++, b += KeyTile)
                {
                    var b0 = Vector256.Load(b);
                    var b1 = Vector256.Load(b + 8);
                    var x = Vector256.Create(a0[d]);
                    c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                    x = Vector256.Create(a1[d]);
                    c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                    x = Vector256.Create(a2[d]);
                    c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                    x = Vector256.Create(a3[d]);
                    c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                }
                float* o = s + m * KeyTile + col;
                c00.Store(o); c01.Store(o + 8); o += KeyTile;
                c10.Store(o); c11.Store(o + 8); o += KeyTile;
                c20.Store(o); c21.Store(o + 8); o += KeyTile;
                c30.Store(o); c31.Store(o + 8);
            }
        }
    }

    /// <summary>AVX2 twin of <see cref="Accumulate"/>: 4 rows × 16 columns per block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accumulate256(float* a, int am, int an, float* b, float* c, int M, int N, int dp)
    {
        for (int m = 0; m < M; m += 4)
        {
            float* a0 = a + m * am, a1 = a0 + am, a2 = a1 + am, a3 = a2 + am;
            for (int col = 0; col < dp; col += 16)
            {
                float* r0 = c + m * dp + col, r1 = r0 + dp, r2 = r1 + dp, r3 = r2 + dp;
                Vector256<float> c00 = Vector256.Load(r0), c01 = Vector256.Load(r0 + 8), c10 = Vector256.Load(r1), c11 = Vector256.Load(r1 + 8);
                Vector256<float> c20 = Vector256.Load(r2), c21 = Vector256.Load(r2 + 8), c30 = Vector256.Load(r3), c31 = Vector256.Load(r3 + 8);
                float* bb = b + col;
                for (int n = 0; n < N; n++, bb += dp)
                {
                    var b0 = Vector256.Load(bb);
                    var b1 = Vector256.Load(bb + 8);
                    int k = n * an;
                    var x = Vector256.Create(a0[k]);
                    c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                    x = Vector256.Create(a1[k]);
                    c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                    x = Vector256.Create(a2[k]);
                    c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                    x = Vector256.Create(a3[k]);
                    c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                }
                c00.Store(r0); c01.Store(r0 + 8); c10.Store(r1); c11.Store(r1 + 8);
                c20.Store(r2); c21.Store(r2 + 8); c30.Store(r3); c31.Store(r3 + 8);
            }
        }
    }

    /// <summary>
    /// AVX2 forward row: masks keys ≥ limit (limit &gt; 0), p = exp(s − m_new) in place, updates m and l, returns α.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float OnlineSoftmaxRow256(float* s, int limit, ref float m, ref float l)
    {
        for (int j = limit; j < KeyTile; j++)
        {
            s[j] = float.NegativeInfinity;
        }
        var vmax = Vector256.Create(float.NegativeInfinity);
        for (int c = 0; c < KeyTile; c += 8)
        {
            vmax = Vector256.Max(vmax, Vector256.Load(s + c));
        }
        var h = Vector128.Max(vmax.GetLower(), vmax.GetUpper());
        float mNew = MathF.Max(m, MathF.Max(MathF.Max(h[0], h[1]), MathF.Max(h[2], h[3])));
        float alpha = MathF.Exp(m - mNew);
        var vm = Vector256.Create(mNew);
        var sum = Vector256<float>.Zero;
        for (int c = 0; c < KeyTile; c += 8)
        {
            var p = SimdMath.Exp(Vector256.Load(s + c) - vm);
            p.Store(s + c);
            sum += p;
        }
        l = l * alpha + Vector256.Sum(sum);
        m = mNew;
        return alpha;
    }

    /// <summary>AVX2 backward row: p = exp(s − lse) on keys &lt; limit (limit &gt; 0), ds = p∘(dp − Δ).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ProbabilityRow256(float* p, float* ds, int limit, float lse, float delta)
    {
        for (int j = limit; j < KeyTile; j++)
        {
            p[j] = float.NegativeInfinity;
        }
        var vl = Vector256.Create(lse);
        var vd = Vector256.Create(delta);
        for (int c = 0; c < KeyTile; c += 8)
        {
            var pc = SimdMath.Exp(Vector256.Load(p + c) - vl);
            pc.Store(p + c);
            (pc * (Vector256.Load(ds + c) - vd)).Store(ds + c);
        }
    }
}
