using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Optimizer ILGPU kernels: one thread per element. The gradient norm reuses the grouped reductions.</summary>
internal static class OptimizerIlgpuKernels
{
    /// <summary>One AdamW step at i (torch order: decay, moments, bias-corrected update).</summary>
    [GpuKernel(Hot = true)]
    public static void AdamW(Index1D i, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v,
        AdamWCoefficients c)
    {
        float g = grad[i];
        float mi = c.Beta1 * m[i] + (1f - c.Beta1) * g;
        float vi = c.Beta2 * v[i] + (1f - c.Beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] = param[i] * c.Decay - c.StepSize * mi / (XMath.Sqrt(vi) / c.SqrtBc2 + c.Epsilon);
    }

    /// <summary>ema[i] = decay·ema[i] + (1 − decay)·param[i].</summary>
    [GpuKernel]
    public static void Ema(Index1D i, ArrayView<float> ema, ArrayView<float> param, float decay) =>
        ema[i] = decay * ema[i] + (1f - decay) * param[i];

    /// <summary>g[i] *= min(1, maxNorm / (√normSquared[0] + 1e-6)); the norm is read on the device.</summary>
    [GpuKernel]
    public static void Clip(Index1D i, ArrayView<float> g, ArrayView<float> normSquared, float maxNorm)
    {
        float scale = XMath.Min(1f, maxNorm / (XMath.Sqrt(normSquared[0]) + 1e-6f));
        g[i] *= scale;
    }
}
