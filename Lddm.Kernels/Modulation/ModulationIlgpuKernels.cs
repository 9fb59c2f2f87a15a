using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// (tokens, hidden) of a (batch, tokens, hidden) activation; per-sequence vectors are (batch, hidden).
/// Public only because ILGPU's CPU accelerator must see kernel argument types.
/// </summary>
public readonly struct ModulationShape(int tokens, int hidden)
{
    public readonly int Tokens = tokens;
    public readonly int Hidden = hidden;

    /// <summary>Index into the (batch, hidden) vector for activation element i.</summary>
    public int Vector(int i)
    {
        int row = i / Hidden;
        return (row / Tokens) * Hidden + (i - row * Hidden);
    }
}

/// <summary>
/// adaLN modulation kernels. Elementwise parts: one thread per element. Σ_t reductions: one thread per (b, h)
/// looping over t, so neighbouring threads read neighbouring columns (coalesced) and each output has one owner.
/// </summary>
internal static class ModulationIlgpuKernels
{
    /// <summary>y = x·(1 + scale[b]) + shift[b].</summary>
    [GpuKernel]
    public static void ModulateForward(Index1D i, ArrayView<float> x, ArrayView<float> shift, ArrayView<float> scale,
        ArrayView<float> y, ModulationShape s)
    {
        int v = s.Vector(i);
        y[i] = x[i] * (1f + scale[v]) + shift[v];
    }

    /// <summary>y = residual + gate[b]·x.</summary>
    [GpuKernel]
    public static void GatedResidualForward(Index1D i, ArrayView<float> residual, ArrayView<float> gate,
        ArrayView<float> x, ArrayView<float> y, ModulationShape s) =>
        y[i] = residual[i] + gate[s.Vector(i)] * x[i];

    /// <summary>
    /// dx += dy·(offset + v[b]): offset 1 for modulate (v = scale), 0 for the gate; with write ≠ 0, dx = dy·(offset +
    /// v[b]) and dx is not read.
    /// </summary>
    [GpuKernel]
    public static void AccumulateScaled(Index1D i, ArrayView<float> dy, ArrayView<float> v, float offset,
        ArrayView<float> dx, ModulationShape s, int write)
    {
        float g = dy[i] * (offset + v[s.Vector(i)]);
        dx[i] = write != 0 ? g : dx[i] + g;
    }

    /// <summary>d += dy (d = dy with write ≠ 0, d not read).</summary>
    [GpuKernel]
    public static void Accumulate(Index1D i, ArrayView<float> dy, ArrayView<float> d, int write) =>
        d[i] = write != 0 ? dy[i] : d[i] + dy[i];

    /// <summary>d[b,h] += Σ_t dy[b,t,h]; one thread per (b, h).</summary>
    [GpuKernel]
    public static void SumOverTokens(Index1D bh, ArrayView<float> dy, ArrayView<float> d, ModulationShape s)
    {
        int b = bh / s.Hidden, h = bh - b * s.Hidden;
        int index = b * s.Tokens * s.Hidden + h;
        float acc = 0f;
        for (int t = 0; t < s.Tokens; t++, index += s.Hidden)
        {
            acc += dy[index];
        }
        d[bh] += acc;
    }

    /// <summary>d[b,h] += Σ_t dy[b,t,h]·x[b,t,h]; one thread per (b, h).</summary>
    [GpuKernel]
    public static void DotOverTokens(Index1D bh, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> d,
        ModulationShape s)
    {
        int b = bh / s.Hidden, h = bh - b * s.Hidden;
        int index = b * s.Tokens * s.Hidden + h;
        float acc = 0f;
        for (int t = 0; t < s.Tokens; t++, index += s.Hidden)
        {
            acc += dy[index] * x[index];
        }
        d[bh] += acc;
    }
}
