using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// (tokens, headDim/2) of a (batch, heads, tokens, headDim) RoPE input.
/// Public only because ILGPU's CPU accelerator must see kernel argument types.
/// </summary>
public readonly struct RopeShape(int tokens, int half)
{
    public readonly int Tokens = tokens;
    public readonly int Half = half;
}

/// <summary>
/// RoPE kernels: one thread per rotated pair (b, head, t, i). The cos/sin table ([cos | sin], each (tokens, D/2))
/// comes from the host, computed in float64, so the GPU uses exactly the CPU backend's values.
/// </summary>
internal static class RopeIlgpuKernels
{
    /// <summary>(y[i], y[i+D/2]) = (x[i]·c − x[i+D/2]·s, x[i+D/2]·c + x[i]·s).</summary>
    [GpuKernel]
    public static void RopeForward(Index1D p, ArrayView<float> x, ArrayView<float> table, ArrayView<float> y, RopeShape s)
    {
        int row = p / s.Half, i = p - row * s.Half;
        int lo = row * 2 * s.Half + i, hi = lo + s.Half, a = (row % s.Tokens) * s.Half + i;
        float c = table[a], sn = table[s.Tokens * s.Half + a];
        float x1 = x[lo], x2 = x[hi];
        y[lo] = x1 * c - x2 * sn;
        y[hi] = x2 * c + x1 * sn;
    }

    /// <summary>(dx[i], dx[i+D/2]) += (dy[i]·c + dy[i+D/2]·s, dy[i+D/2]·c − dy[i]·s): the rotation by −a.</summary>
    [GpuKernel]
    public static void RopeBackward(Index1D p, ArrayView<float> dy, ArrayView<float> table, ArrayView<float> dx, RopeShape s)
    {
        int row = p / s.Half, i = p - row * s.Half;
        int lo = row * 2 * s.Half + i, hi = lo + s.Half, a = (row % s.Tokens) * s.Half + i;
        float c = table[a], sn = table[s.Tokens * s.Half + a];
        float g1 = dy[lo], g2 = dy[hi];
        dx[lo] += g1 * c + g2 * sn;
        dx[hi] += g2 * c - g1 * sn;
    }
}
