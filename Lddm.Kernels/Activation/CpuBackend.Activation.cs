using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

/// <summary>act(u) and act′(u) in scalar and vector forms; the vector forms take σ from <see cref="SimdMath.Sigmoid(Vector512{float})"/>.</summary>
internal interface IActivationOperator
{
    static abstract float Value(float u);
    static abstract float Grad(float u);
    static abstract Vector512<float> Value(Vector512<float> u);
    static abstract Vector512<float> Grad(Vector512<float> u);
    static abstract Vector256<float> Value(Vector256<float> u);
    static abstract Vector256<float> Grad(Vector256<float> u);
}

public sealed partial class CpuBackend
{
    private const int ActivationChunk = 1 << 14;

    // The row loops are [AggressiveOptimization]: they are jitted fully optimised on first use instead of running
    // tier-0 code (measured 20-50× slower for these Vector512 loops) until tiered compilation catches up.

    protected override unsafe void ActivationForwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? bias, int rows,
        int cols, Activation act, DeviceBuffer<float> y)
    {
        float* px = Raw(x).Pointer, pb = bias is null ? null : Raw(bias).Pointer, py = Raw(y).Pointer;
        switch (act)
        {
            case Activation.Identity: ActForward<IdentityOp>(px, pb, py, rows, cols); break;
            case Activation.GeluTanh: ActForward<GeluTanhOp>(px, pb, py, rows, cols); break;
            default: ActForward<SiluOp>(px, pb, py, rows, cols); break;
        }
    }

    protected override unsafe void ActivationBackwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? bias,
        DeviceBuffer<float> dy, int rows, int cols, Activation act, DeviceBuffer<float> dx, DeviceBuffer<float>? dbias,
        bool writeDx)
    {
        float* px = Raw(x).Pointer, pb = bias is null ? null : Raw(bias).Pointer;
        float* pdy = Raw(dy).Pointer, pdx = Raw(dx).Pointer, pdb = dbias is null ? null : Raw(dbias).Pointer;
        switch (act)
        {
            case Activation.Identity: ActBackward<IdentityOp>(px, pb, pdy, pdx, pdb, rows, cols, writeDx); break;
            case Activation.GeluTanh: ActBackward<GeluTanhOp>(px, pb, pdy, pdx, pdb, rows, cols, writeDx); break;
            default: ActBackward<SiluOp>(px, pb, pdy, pdx, pdb, rows, cols, writeDx); break;
        }
    }

    private unsafe void ActForward<TAct>(float* x, float* b, float* y, int rows, int cols)
        where TAct : IActivationOperator =>
        Pool.For(rows, Math.Max(1, ActivationChunk / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long o = (long)r * cols;
                ActForwardRow<TAct>(x + o, b, y + o, cols);
            }
        });

    /// <summary>
    /// dx += dy·act′(u) (dx = 0 + dy·act′(u), unread, with <paramref name="write"/>) over row chunks, one chunk per
    /// thread; each chunk sums its dbias contribution into its own zeroed partial row, and the partials are added into
    /// dbias after the join (no races, fixed order).
    /// </summary>
    private unsafe void ActBackward<TAct>(float* x, float* b, float* dy, float* dx, float* db, int rows, int cols, bool write)
        where TAct : IActivationOperator
    {
        int chunks = Math.Clamp((int)((long)rows * cols / ActivationChunk), 1, Math.Min(Pool.Threads, rows));
        float* partial = db is null ? null : (float*)NativeMemory.AllocZeroed((nuint)chunks * (nuint)cols, sizeof(float));
        try
        {
            Pool.For(chunks, 1, (c0, c1) =>
            {
                for (int ch = c0; ch < c1; ch++)
                {
                    float* part = partial is null ? null : partial + (long)ch * cols;
                    int r1 = (int)((long)rows * (ch + 1) / chunks);
                    for (int r = (int)((long)rows * ch / chunks); r < r1; r++)
                    {
                        long o = (long)r * cols;
                        ActBackwardRow<TAct>(x + o, b, dy + o, dx + o, part, cols, write);
                    }
                }
            });
            if (partial is not null)
            {
                for (int ch = 0; ch < chunks; ch++)
                {
                    Simd.Binary<AddOperator>(db, partial + (long)ch * cols, db, cols);
                }
            }
        }
        finally
        {
            NativeMemory.Free(partial);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ActForwardRow<TAct>(float* x, float* b, float* y, int n) where TAct : IActivationOperator
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - 16; i += 16)
            {
                var u = Vector512.Load(x + i);
                if (b is not null)
                {
                    u += Vector512.Load(b + i);
                }
                TAct.Value(u).Store(y + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 8; i += 8)
            {
                var u = Vector256.Load(x + i);
                if (b is not null)
                {
                    u += Vector256.Load(b + i);
                }
                TAct.Value(u).Store(y + i);
            }
        }
        for (; i < n; i++)
        {
            y[i] = TAct.Value(b is null ? x[i] : x[i] + b[i]);
        }
    }

    /// <summary>
    /// dx[i] += dy[i]·act′(x[i] + b[i]) (dx[i] = 0 + that, unread, with <paramref name="write"/>); part[i] += the same
    /// term when part is not null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ActBackwardRow<TAct>(float* x, float* b, float* dy, float* dx, float* part, int n, bool write)
        where TAct : IActivationOperator
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - 16; i += 16)
            {
                var u = Vector512.Load(x + i);
                if (b is not null)
                {
                    u += Vector512.Load(b + i);
                }
                var g = Vector512.Load(dy + i) * TAct.Grad(u);
                ((write ? Vector512<float>.Zero : Vector512.Load(dx + i)) + g).Store(dx + i);
                if (part is not null)
                {
                    (Vector512.Load(part + i) + g).Store(part + i);
                }
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 8; i += 8)
            {
                var u = Vector256.Load(x + i);
                if (b is not null)
                {
                    u += Vector256.Load(b + i);
                }
                var g = Vector256.Load(dy + i) * TAct.Grad(u);
                ((write ? Vector256<float>.Zero : Vector256.Load(dx + i)) + g).Store(dx + i);
                if (part is not null)
                {
                    (Vector256.Load(part + i) + g).Store(part + i);
                }
            }
        }
        for (; i < n; i++)
        {
            float g = dy[i] * TAct.Grad(b is null ? x[i] : x[i] + b[i]);
            dx[i] = (write ? 0f : dx[i]) + g;
            if (part is not null)
            {
                part[i] += g;
            }
        }
    }

    private readonly struct IdentityOp : IActivationOperator
    {
        public static float Value(float u) => u;
        public static float Grad(float u) => 1f;
        public static Vector512<float> Value(Vector512<float> u) => u;
        public static Vector512<float> Grad(Vector512<float> u) => Vector512<float>.One;
        public static Vector256<float> Value(Vector256<float> u) => u;
        public static Vector256<float> Grad(Vector256<float> u) => Vector256<float>.One;
    }

    /// <summary>
    /// ½·u·(1 + tanh k) = u·σ(2k) with k = √(2/π)·(u + 0.044715·u³): the sigmoid form needs one exp, and in the
    /// negative tail it keeps relative accuracy where 1 + tanh k would cancel. act′ = s + 2u·s(1−s)·k′, s = σ(2k).
    /// </summary>
    private readonly struct GeluTanhOp : IActivationOperator
    {
        private const float C = 0.7978845608028654f, A = 0.044715f, C2 = 2 * C, C2A = 2 * C * A, A3 = 3 * A;

        public static float Value(float u) => u / (1f + MathF.Exp(-u * (C2 + C2A * u * u)));

        public static float Grad(float u)
        {
            float u2 = u * u;
            float s = 1f / (1f + MathF.Exp(-u * (C2 + C2A * u2)));
            return s + u * s * (1f - s) * C2 * (1f + A3 * u2);
        }

        // Vector forms: σ through SimdMath (inline exp, reciprocal without a division), no BCL Exp.
        public static Vector512<float> Value(Vector512<float> u) =>
            u * SimdMath.Sigmoid(u * Vector512.FusedMultiplyAdd(Vector512.Create(C2A), u * u, Vector512.Create(C2)));

        public static Vector512<float> Grad(Vector512<float> u)
        {
            var u2 = u * u;
            var s = SimdMath.Sigmoid(u * Vector512.FusedMultiplyAdd(Vector512.Create(C2A), u2, Vector512.Create(C2)));
            var dk = Vector512.FusedMultiplyAdd(Vector512.Create(C2 * A3), u2, Vector512.Create(C2));
            return Vector512.FusedMultiplyAdd(u * s * (Vector512<float>.One - s), dk, s);
        }

        public static Vector256<float> Value(Vector256<float> u) =>
            u * SimdMath.Sigmoid(u * Vector256.FusedMultiplyAdd(Vector256.Create(C2A), u * u, Vector256.Create(C2)));

        public static Vector256<float> Grad(Vector256<float> u)
        {
            var u2 = u * u;
            var s = SimdMath.Sigmoid(u * Vector256.FusedMultiplyAdd(Vector256.Create(C2A), u2, Vector256.Create(C2)));
            var dk = Vector256.FusedMultiplyAdd(Vector256.Create(C2 * A3), u2, Vector256.Create(C2));
            return Vector256.FusedMultiplyAdd(u * s * (Vector256<float>.One - s), dk, s);
        }
    }

    /// <summary>u·σ(u); act′ = σ·(1 + u·(1 − σ)).</summary>
    private readonly struct SiluOp : IActivationOperator
    {
        public static float Value(float u) => u / (1f + MathF.Exp(-u));

        public static float Grad(float u)
        {
            float s = 1f / (1f + MathF.Exp(-u));
            return s * (1f + u * (1f - s));
        }

        public static Vector512<float> Value(Vector512<float> u) => u * SimdMath.Sigmoid(u);

        public static Vector512<float> Grad(Vector512<float> u)
        {
            var s = SimdMath.Sigmoid(u);
            return s * Vector512.FusedMultiplyAdd(u, Vector512<float>.One - s, Vector512<float>.One);
        }

        public static Vector256<float> Value(Vector256<float> u) => u * SimdMath.Sigmoid(u);

        public static Vector256<float> Grad(Vector256<float> u)
        {
            var s = SimdMath.Sigmoid(u);
            return s * Vector256.FusedMultiplyAdd(u, Vector256<float>.One - s, Vector256<float>.One);
        }
    }
}
