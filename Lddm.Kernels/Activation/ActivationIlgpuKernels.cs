using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Shape and switches of a bias + activation launch (keeps the kernel parameter lists short).</summary>
public readonly struct ActivationShape(int rows, int cols, int act, int hasBias)
{
    public readonly int Rows = rows;
    public readonly int Cols = cols;

    /// <summary>The <see cref="Activation"/> as an int (uniform over the launch, so the switch never diverges).</summary>
    public readonly int Act = act;

    /// <summary>1 when the bias view is real; 0 when it is a placeholder that must not be read.</summary>
    public readonly int HasBias = hasBias;
}

/// <summary>Bias + activation ILGPU kernels: one thread per element (forward, dx), a two-stage column reduction (dbias).</summary>
internal static class ActivationIlgpuKernels
{
    private const float C2 = 2 * 0.7978845608028654f, C2A = C2 * 0.044715f, A3 = 3 * 0.044715f;

    /// <summary>y[i] = act(x[i] + bias[i mod cols]).</summary>
    [GpuKernel(Hot = true)]
    public static void Forward(Index1D i, ArrayView<float> x, ArrayView<float> bias, ArrayView<float> y, ActivationShape s)
    {
        float u = x[i];
        if (s.HasBias != 0)
        {
            u += bias[i % s.Cols];
        }
        y[i] = Value(s.Act, u);
    }

    /// <summary>dx[i] += dy[i]·act′(x[i] + bias[i mod cols]); dx[i] = that term, dx unread, with write ≠ 0.</summary>
    [GpuKernel]
    public static void BackwardDx(Index1D i, ArrayView<float> x, ArrayView<float> bias, ArrayView<float> dy,
        ArrayView<float> dx, ActivationShape s, int write)
    {
        float u = x[i];
        if (s.HasBias != 0)
        {
            u += bias[i % s.Cols];
        }
        float g = dy[i] * Grad(s.Act, u);
        dx[i] = write != 0 ? g : dx[i] + g;
    }

    /// <summary>
    /// Stage 1 of dbias (the two-stage column reduction of <c>ReductionIlgpuKernels.ColumnPartialSums</c>):
    /// partials[j, c] = Σ dy[r, c]·act′(x[r, c] + bias[c]) over row chunk j, 8 row lanes folded in order.
    /// <c>ReductionIlgpuKernels.ColumnFinalSums</c> then adds Σ_j partials[j, c] into dbias[c].
    /// </summary>
    [GpuKernel]
    public static void BackwardDbiasPartials(ArrayView<float> x, ArrayView<float> bias, ArrayView<float> dy,
        ArrayView<float> partials, ActivationShape s, int colBlocks, int chunkRows)
    {
        const int tile = ReductionIlgpuKernels.ColumnTile, lanes = ReductionIlgpuKernels.ColumnRowLanes;
        var shared = SharedMemory.Allocate<float>(tile * lanes);
        int rows = s.Rows, cols = s.Cols, act = s.Act;
        int tid = Group.IdxX, tx = tid % tile, ty = tid / tile;
        int g = Grid.IdxX, j = g / colBlocks, c = (g - j * colBlocks) * tile + tx;
        int r0 = j * chunkRows, r1 = Math.Min(rows, r0 + chunkRows);
        float sum = 0f;
        if (c < cols)
        {
            float b = s.HasBias != 0 ? bias[c] : 0f;
            for (int r = r0 + ty; r < r1; r += lanes)
            {
                long i = (long)r * cols + c;
                sum += dy[i] * Grad(act, x[i] + b);
            }
        }
        shared[tid] = sum;
        Group.Barrier();
        if (ty == 0 && c < cols)
        {
            float total = 0f;
            for (int l = 0; l < lanes; l++)
            {
                total += shared[l * tile + tx];
            }
            partials[(long)j * cols + c] = total;
        }
    }

    /// <summary>GELU as u·σ(2k) (one exp, no cancellation in the negative tail); SiLU as u·σ(u).</summary>
    internal static float Value(int act, float u)
    {
        if (act == (int)Activation.GeluTanh)
        {
            return u / (1f + XMath.Exp(-u * (C2 + C2A * u * u)));
        }
        if (act == (int)Activation.Silu)
        {
            return u / (1f + XMath.Exp(-u));
        }
        return u;
    }

    private static float Grad(int act, float u)
    {
        if (act == (int)Activation.GeluTanh)
        {
            float u2 = u * u;
            float s = 1f / (1f + XMath.Exp(-u * (C2 + C2A * u2)));
            return s + u * s * (1f - s) * C2 * (1f + A3 * u2);
        }
        if (act == (int)Activation.Silu)
        {
            float s = 1f / (1f + XMath.Exp(-u));
            return s * (1f + u * (1f - s));
        }
        return 1f;
    }
}
