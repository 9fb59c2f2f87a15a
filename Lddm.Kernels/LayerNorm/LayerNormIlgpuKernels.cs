using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Shape and switches of a LayerNorm launch (keeps the kernel parameter lists short).</summary>
internal readonly struct LayerNormShape(int rows, int cols, float epsilon, int hasGamma, int hasBeta)
{
    public readonly int Rows = rows;
    public readonly int Cols = cols;
    public readonly float Epsilon = epsilon;

    /// <summary>1 when the gamma view is real (forward/backward); 0 when it is a placeholder never read.</summary>
    public readonly int HasGamma = hasGamma;

    /// <summary>Forward: 1 when beta is real. Column kernel: bit 0 = dgamma wanted, bit 1 = dbeta wanted.</summary>
    public readonly int HasBeta = hasBeta;
}

/// <summary>
/// LayerNorm ILGPU kernels. Forward and dx: one explicit group per row (a power-of-two size, 128 on GPUs) of threads, strided
/// over the columns (coalesced), with shared-memory tree reductions for the row sums. dγ/dβ: one thread per column
/// summing down the rows (adjacent threads read adjacent columns).
/// </summary>
internal static class LayerNormIlgpuKernels
{
    /// <summary>Most threads per row group (the shared scratch size); launches use a power of two up to this.</summary>
    public const int MaxGroupSize = 256;

    /// <summary>y = (x − μ)·rstd·γ + β per row; thread 0 saves μ and rstd.</summary>
    [GpuKernel(Hot = true)]
    public static void Forward(ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, LayerNormShape s)
    {
        var shared = SharedMemory.Allocate<float>(MaxGroupSize);
        int row = Grid.IdxX, t = Group.IdxX, dim = Group.DimX, cols = s.Cols, o = row * cols;
        float sum = 0f;
        for (int c = t; c < cols; c += dim)
        {
            sum += x[o + c];
        }
        float mu = GroupSum(shared, t, dim, sum) / cols;
        float sq = 0f;
        for (int c = t; c < cols; c += dim)
        {
            float d = x[o + c] - mu;
            sq += d * d;
        }
        float rs = XMath.Rsqrt(GroupSum(shared, t, dim, sq) / cols + s.Epsilon);
        if (t == 0)
        {
            mean[row] = mu;
            rstd[row] = rs;
        }
        for (int c = t; c < cols; c += dim)
        {
            float v = (x[o + c] - mu) * rs;
            if (s.HasGamma != 0)
            {
                v *= gamma[c];
            }
            if (s.HasBeta != 0)
            {
                v += beta[c];
            }
            y[o + c] = v;
        }
    }

    /// <summary>dx += rstd·(g − mean(g) − x̂·mean(g·x̂)) per row, g = dy·γ.</summary>
    [GpuKernel]
    public static void BackwardDx(ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> dy, ArrayView<float> dx, LayerNormShape s)
    {
        var shared = SharedMemory.Allocate<float>(MaxGroupSize);
        int row = Grid.IdxX, t = Group.IdxX, dim = Group.DimX, cols = s.Cols, o = row * cols;
        float mu = mean[row], rs = rstd[row];
        float sg = 0f, sgx = 0f;
        for (int c = t; c < cols; c += dim)
        {
            float g = s.HasGamma != 0 ? dy[o + c] * gamma[c] : dy[o + c];
            sg += g;
            sgx += g * (x[o + c] - mu) * rs;
        }
        float ma = GroupSum(shared, t, dim, sg) / cols;
        float mb = GroupSum(shared, t, dim, sgx) / cols;
        for (int c = t; c < cols; c += dim)
        {
            float g = s.HasGamma != 0 ? dy[o + c] * gamma[c] : dy[o + c];
            dx[o + c] += rs * (g - ma - (x[o + c] - mu) * rs * mb);
        }
    }

    /// <summary>
    /// Stage 1 of dγ/dβ (the two-stage column reduction of <c>ReductionIlgpuKernels.ColumnPartialSums</c>): group g
    /// owns 32 consecutive columns and row chunk j = g / colBlocks; its 8 row lanes stride the chunk, then lane 0 of
    /// each column folds the lane sums in order: partials[j, c] = Σ dy·x̂ and partials[chunks + j, c] = Σ dy.
    /// </summary>
    [GpuKernel]
    public static void BackwardParamsPartials(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dy, ArrayView<float> partials, LayerNormShape s, int colBlocks, int chunkRows, int chunks)
    {
        const int tile = ReductionIlgpuKernels.ColumnTile, lanes = ReductionIlgpuKernels.ColumnRowLanes;
        var sharedG = SharedMemory.Allocate<float>(tile * lanes);
        var sharedB = SharedMemory.Allocate<float>(tile * lanes);
        int rows = s.Rows, cols = s.Cols;
        int tid = Group.IdxX, tx = tid % tile, ty = tid / tile;
        int g = Grid.IdxX, j = g / colBlocks, c = (g - j * colBlocks) * tile + tx;
        int r0 = j * chunkRows, r1 = Math.Min(rows, r0 + chunkRows);
        float sg = 0f, sb = 0f;
        if (c < cols)
        {
            for (int r = r0 + ty; r < r1; r += lanes)
            {
                long i = (long)r * cols + c;
                float d = dy[i];
                sg += d * (x[i] - mean[r]) * rstd[r];
                sb += d;
            }
        }
        sharedG[tid] = sg;
        sharedB[tid] = sb;
        Group.Barrier();
        if (ty == 0 && c < cols)
        {
            float tg = 0f, tb = 0f;
            for (int l = 0; l < lanes; l++)
            {
                tg += sharedG[l * tile + tx];
                tb += sharedB[l * tile + tx];
            }
            partials[(long)j * cols + c] = tg;
            partials[(long)(chunks + j) * cols + c] = tb;
        }
    }

    /// <summary>Stage 2: dgamma[c] += Σ_j partials[j, c] (bit 0 of HasBeta), dbeta[c] += Σ_j partials[chunks + j, c] (bit 1).</summary>
    [GpuKernel]
    public static void BackwardParamsFinal(Index1D c, ArrayView<float> partials, int chunks, ArrayView<float> dgamma,
        ArrayView<float> dbeta, LayerNormShape s)
    {
        int cols = s.Cols, which = s.HasBeta;
        float sg = 0f, sb = 0f;
        for (int j = 0; j < chunks; j++)
        {
            sg += partials[(long)j * cols + c];
            sb += partials[(long)(chunks + j) * cols + c];
        }
        if ((which & 1) != 0)
        {
            dgamma[c] += sg;
        }
        if ((which & 2) != 0)
        {
            dbeta[c] += sb;
        }
    }

    /// <summary>Sum of <paramref name="v"/> over the group (every thread gets it); shared is reusable on return.</summary>
    private static float GroupSum(ArrayView<float> shared, int t, int dim, float v)
    {
        shared[t] = v;
        Group.Barrier();
        for (int half = dim / 2; half > 0; half >>= 1)
        {
            if (t < half)
            {
                shared[t] += shared[t + half];
            }
            Group.Barrier();
        }
        float total = shared[0];
        Group.Barrier();
        return total;
    }
}
