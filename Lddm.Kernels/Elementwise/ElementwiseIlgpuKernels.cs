using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Elementwise ILGPU kernels: one thread per output element.</summary>
internal static class ElementwiseIlgpuKernels
{
    /// <summary>dst[i] = a[i] + b[i mod nb].</summary>
    [GpuKernel]
    public static void Add(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> dst, int nb) =>
        dst[i] = a[i] + b[i % nb];

    /// <summary>dst[i] = a[i] · b[i mod nb].</summary>
    [GpuKernel]
    public static void Mul(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> dst, int nb) =>
        dst[i] = a[i] * b[i % nb];

    /// <summary>y[i] = α·x[i] + β·y[i]; y is not read when β = 0.</summary>
    [GpuKernel]
    public static void Axpby(Index1D i, float alpha, ArrayView<float> x, float beta, ArrayView<float> y) =>
        y[i] = beta == 0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
}
