using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Kernels the backend itself needs (buffer fill).</summary>
internal static class CoreIlgpuKernels
{
    /// <summary>v[i] = value.</summary>
    [GpuKernel(TypeArguments = [typeof(float)])]
    public static void Fill<T>(Index1D i, ArrayView<T> v, T value) where T : unmanaged => v[i] = value;
}
