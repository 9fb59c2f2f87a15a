using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    private const int OptimizerChunk = 1 << 14;

    protected override unsafe void AdamWStepCore(DeviceBuffer<float> param, DeviceBuffer<float> grad,
        DeviceBuffer<float> m, DeviceBuffer<float> v, AdamWCoefficients c)
    {
        float* pp = Raw(param).Pointer, pg = Raw(grad).Pointer, pm = Raw(m).Pointer, pv = Raw(v).Pointer;
        Pool.For(param.Length, OptimizerChunk, (start, end) => AdamWRange(pp, pg, pm, pv, start, end, c));
    }

    protected override unsafe void EmaUpdateCore(DeviceBuffer<float> ema, DeviceBuffer<float> param, float decay)
    {
        float* pe = Raw(ema).Pointer, pp = Raw(param).Pointer;
        Pool.For(ema.Length, OptimizerChunk, (start, end) => EmaRange(pe, pp, start, end, decay));
    }

    protected override unsafe void GradNormSquaredCore(IReadOnlyList<DeviceBuffer<float>> grads, DeviceBuffer<float> result)
    {
        double s = 0;
        foreach (var g in grads)
        {
            s += DeterministicSum<SquareMap>(Raw(g).Pointer, g.Length);
        }
        Raw(result).Pointer[0] = (float)s;
    }

    protected override unsafe void ClipByNormCore(IReadOnlyList<DeviceBuffer<float>> grads, DeviceBuffer<float> normSquared, float maxNorm)
    {
        // The same float arithmetic as the ILGPU kernel, so both backends scale by the same factor.
        float scale = MathF.Min(1f, maxNorm / (MathF.Sqrt(Raw(normSquared).Pointer[0]) + 1e-6f));
        if (scale == 1f)
        {
            return;
        }
        foreach (var g in grads)
        {
            float* p = Raw(g).Pointer;
            Pool.For(g.Length, ElementwiseChunk, (start, end) =>
                Simd.BinaryScalar<MulOperator>(p + start, scale, p + start, end - start));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AdamWRange(float* pp, float* pg, float* pm, float* pv, int i, int end, AdamWCoefficients c)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> b1 = Vector512.Create(c.Beta1), b2 = Vector512.Create(c.Beta2);
            Vector512<float> ob1 = Vector512.Create(1f - c.Beta1), ob2 = Vector512.Create(1f - c.Beta2);
            Vector512<float> decay = Vector512.Create(c.Decay), step = Vector512.Create(c.StepSize);
            Vector512<float> sqrtBc2 = Vector512.Create(c.SqrtBc2), eps = Vector512.Create(c.Epsilon);
            for (; i <= end - 16; i += 16)
            {
                var g = Vector512.Load(pg + i);
                var m = Vector512.FusedMultiplyAdd(b1, Vector512.Load(pm + i), ob1 * g);
                var v = Vector512.FusedMultiplyAdd(b2, Vector512.Load(pv + i), ob2 * g * g);
                m.Store(pm + i);
                v.Store(pv + i);
                var denom = Vector512.Sqrt(v) / sqrtBc2 + eps;
                (Vector512.Load(pp + i) * decay - step * m / denom).Store(pp + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> b1 = Vector256.Create(c.Beta1), b2 = Vector256.Create(c.Beta2);
            Vector256<float> ob1 = Vector256.Create(1f - c.Beta1), ob2 = Vector256.Create(1f - c.Beta2);
            Vector256<float> decay = Vector256.Create(c.Decay), step = Vector256.Create(c.StepSize);
            Vector256<float> sqrtBc2 = Vector256.Create(c.SqrtBc2), eps = Vector256.Create(c.Epsilon);
            for (; i <= end - 8; i += 8)
            {
                var g = Vector256.Load(pg + i);
                var m = Vector256.FusedMultiplyAdd(b1, Vector256.Load(pm + i), ob1 * g);
                var v = Vector256.FusedMultiplyAdd(b2, Vector256.Load(pv + i), ob2 * g * g);
                m.Store(pm + i);
                v.Store(pv + i);
                var denom = Vector256.Sqrt(v) / sqrtBc2 + eps;
                (Vector256.Load(pp + i) * decay - step * m / denom).Store(pp + i);
            }
        }
        for (; i < end; i++)
        {
            float g = pg[i];
            float m = MathF.FusedMultiplyAdd(c.Beta1, pm[i], (1f - c.Beta1) * g);
            float v = MathF.FusedMultiplyAdd(c.Beta2, pv[i], (1f - c.Beta2) * g * g);
            pm[i] = m;
            pv[i] = v;
            pp[i] = pp[i] * c.Decay - c.StepSize * m / (MathF.Sqrt(v) / c.SqrtBc2 + c.Epsilon);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void EmaRange(float* pe, float* pp, int i, int end, float decay)
    {
        float keep = 1f - decay;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> d = Vector512.Create(decay), k = Vector512.Create(keep);
            for (; i <= end - 16; i += 16)
            {
                Vector512.FusedMultiplyAdd(d, Vector512.Load(pe + i), k * Vector512.Load(pp + i)).Store(pe + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> d = Vector256.Create(decay), k = Vector256.Create(keep);
            for (; i <= end - 8; i += 8)
            {
                Vector256.FusedMultiplyAdd(d, Vector256.Load(pe + i), k * Vector256.Load(pp + i)).Store(pe + i);
            }
        }
        for (; i < end; i++)
        {
            pe[i] = MathF.FusedMultiplyAdd(decay, pe[i], keep * pp[i]);
        }
    }
}
