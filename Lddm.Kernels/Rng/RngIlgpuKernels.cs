using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// Counter-based random kernels: one thread per element, each calling the same <see cref="Philox"/> code the
/// host runs on counter offset + i, so results do not depend on the launch shape.
/// </summary>
internal static class RngIlgpuKernels
{
    /// <summary>dst[i] = Uniform(seed, stream, offset + i).</summary>
    [GpuKernel(Hot = true)]
    public static void FillUniform(Index1D i, ArrayView<float> dst, ulong seed, ulong stream, long offset) =>
        dst[i] = Philox.Uniform(seed, stream, offset + i);

    /// <summary>dst[i] = UniformDouble(seed, stream, offset + i).</summary>
    [GpuKernel(Hot = true)]
    public static void FillUniformDouble(Index1D i, ArrayView<double> dst, ulong seed, ulong stream, long offset) =>
        dst[i] = Philox.UniformDouble(seed, stream, offset + i);

    /// <summary>dst[i] = mean + std·Normal(seed, stream, offset + i).</summary>
    [GpuKernel(Hot = true)]
    public static void FillNormal(Index1D i, ArrayView<float> dst, ulong seed, ulong stream, long offset, float mean, float std) =>
        dst[i] = mean + std * Philox.Normal(seed, stream, offset + i);

    /// <summary>y[i] = Uniform(seed, stream, offset + i) ≥ p ? x[i]·scale : 0.</summary>
    [GpuKernel(Hot = true)]
    public static void DropoutForward(Index1D i, ArrayView<float> x, ArrayView<float> y, float p, float scale,
        ulong seed, ulong stream, long offset) =>
        y[i] = Philox.Uniform(seed, stream, offset + i) >= p ? x[i] * scale : 0f;

    /// <summary>dx[i] += Uniform(seed, stream, offset + i) ≥ p ? dy[i]·scale : 0.</summary>
    [GpuKernel(Hot = true)]
    public static void DropoutBackward(Index1D i, ArrayView<float> dy, ArrayView<float> dx, float p, float scale,
        ulong seed, ulong stream, long offset)
    {
        if (Philox.Uniform(seed, stream, offset + i) >= p)
        {
            dx[i] += dy[i] * scale;
        }
    }
}
