using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

/// <summary>An elementwise binary operator in scalar and vector forms (TensorPrimitives-style).</summary>
internal interface IBinaryOperator
{
    static abstract float Invoke(float x, float y);
    static abstract Vector512<float> Invoke(Vector512<float> x, Vector512<float> y);
    static abstract Vector256<float> Invoke(Vector256<float> x, Vector256<float> y);
}

/// <summary>Generic vectorised drivers: widest vector first, then Vector256, then a scalar tail.</summary>
internal static unsafe class Simd
{
    /// <summary>Σ a[i]·b[i] in float lanes (four 16-wide accumulators, then one), tail scalar.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= n - 64; i += 64)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), s1);
                s2 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 32), Vector512.Load(b + i + 32), s2);
                s3 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 48), Vector512.Load(b + i + 48), s3);
            }
            for (; i <= n - 16; i += 16)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
            }
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i <= n - 16; i += 16)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), s1);
            }
            for (; i <= n - 8; i += 8)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < n; i++)
        {
            sum = MathF.FusedMultiplyAdd(a[i], b[i], sum);
        }
        return sum;
    }

    /// <summary>dst[i] = op(x[i], y[i]) for i in [0, n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Binary<TOp>(float* x, float* y, float* dst, int n) where TOp : IBinaryOperator
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - 16; i += 16)
            {
                TOp.Invoke(Vector512.Load(x + i), Vector512.Load(y + i)).Store(dst + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 8; i += 8)
            {
                TOp.Invoke(Vector256.Load(x + i), Vector256.Load(y + i)).Store(dst + i);
            }
        }
        for (; i < n; i++)
        {
            dst[i] = TOp.Invoke(x[i], y[i]);
        }
    }

    /// <summary>dst[i] = op(x[i], s) for i in [0, n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BinaryScalar<TOp>(float* x, float s, float* dst, int n) where TOp : IBinaryOperator
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sv = Vector512.Create(s);
            for (; i <= n - 16; i += 16)
            {
                TOp.Invoke(Vector512.Load(x + i), sv).Store(dst + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var sv = Vector256.Create(s);
            for (; i <= n - 8; i += 8)
            {
                TOp.Invoke(Vector256.Load(x + i), sv).Store(dst + i);
            }
        }
        for (; i < n; i++)
        {
            dst[i] = TOp.Invoke(x[i], s);
        }
    }
}
