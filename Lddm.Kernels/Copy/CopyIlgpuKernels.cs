using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Layout kernels: one thread per destination element.</summary>
internal static class CopyIlgpuKernels
{
    /// <summary>dst (outer, b, middle, a, inner) ← x (outer, a, middle, b, inner).</summary>
    [GpuKernel]
    public static void SwapAxes(Index1D index, ArrayView<float> x, ArrayView<float> dst, int a, int middle, int b, int inner)
    {
        int rest = index;
        int n = rest % inner;
        rest /= inner;
        int i = rest % a;
        rest /= a;
        int m = rest % middle;
        rest /= middle;
        int j = rest % b;
        int o = rest / b;
        long src = ((((long)o * a + i) * middle + m) * b + j) * inner + n;
        dst[index] = x[src];
    }

    /// <summary>dst[dOff + r·dStride + c] (+)= src[sOff + r·sStride + c], one thread per (r, c).</summary>
    [GpuKernel]
    public static void CopyBlock(Index1D index, ArrayView<float> src, ArrayView<float> dst, BlockCopyShape s)
    {
        int r = index / s.Cols, c = index % s.Cols;
        long d = s.DstOffset + (long)r * s.DstStride + c;
        float v = src[s.SrcOffset + (long)r * s.SrcStride + c];
        dst[d] = s.Accumulate != 0 ? dst[d] + v : v;
    }
}

/// <summary>Arguments of <see cref="CopyIlgpuKernels.CopyBlock"/>.</summary>
internal readonly record struct BlockCopyShape(int SrcOffset, int SrcStride, int DstOffset, int DstStride, int Cols, int Accumulate);
