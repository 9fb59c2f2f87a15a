using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Elements per parallel work item: a row costs about three passes over it.</summary>
    private const int RowChunk = 1 << 14;

    protected override unsafe void SoftmaxForwardCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y)
    {
        float* px = Raw(x).Pointer, py = Raw(y).Pointer;
        Pool.For(rows, Math.Max(1, RowChunk / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                SoftmaxRow(px + (long)r * cols, py + (long)r * cols, cols, log: false);
            }
        });
    }

    protected override unsafe void LogSoftmaxForwardCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y)
    {
        float* px = Raw(x).Pointer, py = Raw(y).Pointer;
        Pool.For(rows, Math.Max(1, RowChunk / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                SoftmaxRow(px + (long)r * cols, py + (long)r * cols, cols, log: true);
            }
        });
    }

    protected override unsafe void SoftmaxBackwardCore(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx)
    {
        float* py = Raw(y).Pointer, pdy = Raw(dy).Pointer, pdx = Raw(dx).Pointer;
        Pool.For(rows, Math.Max(1, RowChunk / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long o = (long)r * cols;
                float s = RowDot(pdy + o, py + o, cols);
                RowAddTimesShifted(py + o, pdy + o, s, pdx + o, cols);
            }
        });
    }

    protected override unsafe void LogSoftmaxBackwardCore(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx)
    {
        float* py = Raw(y).Pointer, pdy = Raw(dy).Pointer, pdx = Raw(dx).Pointer;
        Pool.For(rows, Math.Max(1, RowChunk / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long o = (long)r * cols;
                float s = RowSum(pdy + o, cols);
                RowAddMinusExpTimes(py + o, pdy + o, s, pdx + o, cols);
            }
        });
    }

    /// <summary>One row of softmax (y = e/Σe, stored then scaled) or log-softmax (y = x − m − log Σe).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void SoftmaxRow(float* x, float* y, int n, bool log)
    {
        float m = RowMax(x, n);
        if (float.IsNegativeInfinity(m))
        {
            // All −∞: the uniform row (the limit of equal logits), documented on the contract.
            new Span<float>(y, n).Fill(log ? -MathF.Log(n) : 1f / n);
            return;
        }
        if (log)
        {
            float lse = m + MathF.Log(RowSumExp(x, n, m, null));
            RowAddScalar(x, -lse, y, n);
        }
        else
        {
            float s = RowSumExp(x, n, m, y);
            RowScale(y, 1f / s, n);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowMax(float* x, int n)
    {
        int i = 0;
        float m = float.NegativeInfinity;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var vm = Vector512.Create(float.NegativeInfinity);
            for (; i <= n - 16; i += 16)
            {
                vm = Vector512.Max(vm, Vector512.Load(x + i));
            }
            m = SimdMath.HorizontalMax(Vector256.Max(vm.GetLower(), vm.GetUpper()));
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var vm = Vector256.Create(float.NegativeInfinity);
            for (; i <= n - 8; i += 8)
            {
                vm = Vector256.Max(vm, Vector256.Load(x + i));
            }
            m = SimdMath.HorizontalMax(vm);
        }
        for (; i < n; i++)
        {
            m = MathF.Max(m, x[i]);
        }
        return m;
    }

    /// <summary>Σ exp(x − shift); also stores the exponentials into <paramref name="e"/> when it is not null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowSumExp(float* x, int n, float shift, float* e)
    {
        int i = 0;
        float s = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512<float>.Zero;
            var vshift = Vector512.Create(shift);
            for (; i <= n - 16; i += 16)
            {
                var v = SimdMath.Exp(Vector512.Load(x + i) - vshift);
                if (e != null)
                {
                    v.Store(e + i);
                }
                vs += v;
            }
            s = Vector512.Sum(vs);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256<float>.Zero;
            var vshift = Vector256.Create(shift);
            for (; i <= n - 8; i += 8)
            {
                var v = SimdMath.Exp(Vector256.Load(x + i) - vshift);
                if (e != null)
                {
                    v.Store(e + i);
                }
                vs += v;
            }
            s = Vector256.Sum(vs);
        }
        for (; i < n; i++)
        {
            float v = MathF.Exp(x[i] - shift);
            if (e != null)
            {
                e[i] = v;
            }
            s += v;
        }
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RowScale(float* y, float c, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - 16; i += 16)
            {
                (Vector512.Load(y + i) * c).Store(y + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 8; i += 8)
            {
                (Vector256.Load(y + i) * c).Store(y + i);
            }
        }
        for (; i < n; i++)
        {
            y[i] *= c;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RowAddScalar(float* x, float c, float* y, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vc = Vector512.Create(c);
            for (; i <= n - 16; i += 16)
            {
                (Vector512.Load(x + i) + vc).Store(y + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vc = Vector256.Create(c);
            for (; i <= n - 8; i += 8)
            {
                (Vector256.Load(x + i) + vc).Store(y + i);
            }
        }
        for (; i < n; i++)
        {
            y[i] = x[i] + c;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowDot(float* a, float* b, int n)
    {
        int i = 0;
        float s = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                vs = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), vs);
            }
            s = Vector512.Sum(vs);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                vs = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), vs);
            }
            s = Vector256.Sum(vs);
        }
        for (; i < n; i++)
        {
            s = MathF.FusedMultiplyAdd(a[i], b[i], s);
        }
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowSum(float* a, int n)
    {
        int i = 0;
        float s = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                vs += Vector512.Load(a + i);
            }
            s = Vector512.Sum(vs);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                vs += Vector256.Load(a + i);
            }
            s = Vector256.Sum(vs);
        }
        for (; i < n; i++)
        {
            s += a[i];
        }
        return s;
    }

    /// <summary>dx += y·(dy − s).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RowAddTimesShifted(float* y, float* dy, float s, float* dx, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(s);
            for (; i <= n - 16; i += 16)
            {
                Vector512.FusedMultiplyAdd(Vector512.Load(y + i), Vector512.Load(dy + i) - vs, Vector512.Load(dx + i)).Store(dx + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(s);
            for (; i <= n - 8; i += 8)
            {
                Vector256.FusedMultiplyAdd(Vector256.Load(y + i), Vector256.Load(dy + i) - vs, Vector256.Load(dx + i)).Store(dx + i);
            }
        }
        for (; i < n; i++)
        {
            dx[i] = MathF.FusedMultiplyAdd(y[i], dy[i] - s, dx[i]);
        }
    }

    /// <summary>dx += dy − exp(y)·s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RowAddMinusExpTimes(float* y, float* dy, float s, float* dx, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(-s);
            for (; i <= n - 16; i += 16)
            {
                var v = Vector512.FusedMultiplyAdd(SimdMath.Exp(Vector512.Load(y + i)), vs, Vector512.Load(dy + i));
                (Vector512.Load(dx + i) + v).Store(dx + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(-s);
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.FusedMultiplyAdd(SimdMath.Exp(Vector256.Load(y + i)), vs, Vector256.Load(dy + i));
                (Vector256.Load(dx + i) + v).Store(dx + i);
            }
        }
        for (; i < n; i++)
        {
            dx[i] += MathF.FusedMultiplyAdd(MathF.Exp(y[i]), -s, dy[i]);
        }
    }
}
