using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// Sizes of a fused-QKV attention call: (batch, tokens, heads, headDim) and whether RoPE rotates q and k.
/// Public only because ILGPU's CPU accelerator must see kernel argument types.
/// </summary>
public readonly struct QkvShape(int batch, int tokens, int heads, int dim, int rope)
{
    public readonly int Batch = batch;
    public readonly int Tokens = tokens;
    public readonly int Heads = heads;
    public readonly int Dim = dim;
    public readonly int Rope = rope;
}

/// <summary>
/// The layout kernels around the fused attention on ILGPU for <c>Backend.AttentionQkvForward/Backward</c>: split a
/// (B, T, 3, H, D) QKV buffer into head-major q, k, v (rotating q and k by RoPE) and scatter dq, dk (rotated back),
/// dv into the (B, T, 3, H, D) gradient (o and dO move between (B, H, T, D) and (B, T, H, D) through the existing
/// <c>CopyIlgpuKernels.SwapAxes</c>). One thread per
/// element; the attention itself is the head-major ILGPU kernels. The cos/sin table is the host's float64 one.
/// </summary>
internal static class AttentionQkvIlgpuKernels
{
    /// <summary>Thread p = element d of (b, t, j, h); j = 0, 1, 2 selects q, k, v; q and k rotate by +a(t).</summary>
    [GpuKernel]
    public static void SplitQkv(Index1D p, ArrayView<float> qkv, ArrayView<float> table, ArrayView<float> q,
        ArrayView<float> k, ArrayView<float> v, QkvShape s)
    {
        int dim = s.Dim, d = p % dim, rest = p / dim;
        int h = rest % s.Heads;
        rest /= s.Heads;
        int j = rest % 3;
        rest /= 3;
        int t = rest % s.Tokens, b = rest / s.Tokens;
        float x = qkv[p];
        if (j < 2 && s.Rope != 0)
        {
            int half = dim / 2, i = d < half ? d : d - half;
            int a = t * half + i;
            float c = table[a], sn = table[s.Tokens * half + a];
            x = d < half ? x * c - qkv[p + half] * sn : x * c + qkv[p - half] * sn;
        }
        int dst = ((b * s.Heads + h) * s.Tokens + t) * dim + d;
        if (j == 0)
        {
            q[dst] = x;
        }
        else if (j == 1)
        {
            k[dst] = x;
        }
        else
        {
            v[dst] = x;
        }
    }

    /// <summary>
    /// Thread p = element d of (b, t, j, h) of dqkv: the head-major gradient of q, k (rotated by −a) or v, written
    /// or (accumulate ≠ 0) added.
    /// </summary>
    [GpuKernel]
    public static void MergeQkvGradients(Index1D p, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv,
        ArrayView<float> table, ArrayView<float> dqkv, QkvShape s, int accumulate)
    {
        int dim = s.Dim, d = p % dim, rest = p / dim;
        int h = rest % s.Heads;
        rest /= s.Heads;
        int j = rest % 3;
        rest /= 3;
        int t = rest % s.Tokens, b = rest / s.Tokens;
        int src = ((b * s.Heads + h) * s.Tokens + t) * dim + d;
        float g;
        if (j == 2)
        {
            g = dv[src];
        }
        else
        {
            var view = j == 0 ? dq : dk;
            g = view[src];
            if (s.Rope != 0)
            {
                int half = dim / 2, i = d < half ? d : d - half;
                int a = t * half + i;
                float c = table[a], sn = table[s.Tokens * half + a];
                g = d < half ? g * c + view[src + half] * sn : g * c - view[src - half] * sn;
            }
        }
        dqkv[p] = accumulate != 0 ? dqkv[p] + g : g;
    }
}
