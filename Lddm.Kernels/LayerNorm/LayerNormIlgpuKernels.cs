using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Shape and switches of a LayerNorm launch (keeps the kernel parameter lists short).</summary>
internal readonly struct LayerNormShape(int rows, int cols, float epsilon, int hasGamma, int hasBeta, int quad = 0)
{
    public readonly int Rows = rows;
    public readonly int Cols = cols;
    public readonly float Epsilon = epsilon;

    /// <summary>1 when the gamma view is real (forward/backward); 0 when it is a placeholder never read.</summary>
    public readonly int HasGamma = hasGamma;

    /// <summary>Forward: 1 when beta is real. Column kernel: bit 0 = dgamma wanted, bit 1 = dbeta wanted.</summary>
    public readonly int HasBeta = hasBeta;

    /// <summary>
    /// Forward and dx: 1 when every row view (and γ, β where real) starts on a quad and cols % 4 = 0, so rows go as
    /// 16-byte quads (<see cref="RowQuads"/>); 0: float by float.
    /// </summary>
    public readonly int Quad = quad;
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
        int head = RowQuads.Head(cols, s.Quad);
        float sum = 0f;
        for (int q = t; q < head >> 2; q += dim)
        {
            var v = x.Cast<MmaFloat4>()[(o >> 2) + q];
            sum += v.X;
            sum += v.Y;
            sum += v.Z;
            sum += v.W;
        }
        for (int c = head + t; c < cols; c += dim)
        {
            sum += x[o + c];
        }
        float mu = GroupSum(shared, t, dim, sum) / cols;
        float sq = 0f;
        for (int q = t; q < head >> 2; q += dim)
        {
            var v = x.Cast<MmaFloat4>()[(o >> 2) + q];
            sq += Square(v.X - mu);
            sq += Square(v.Y - mu);
            sq += Square(v.Z - mu);
            sq += Square(v.W - mu);
        }
        for (int c = head + t; c < cols; c += dim)
        {
            sq += Square(x[o + c] - mu);
        }
        float rs = XMath.Rsqrt(GroupSum(shared, t, dim, sq) / cols + s.Epsilon);
        if (t == 0)
        {
            mean[row] = mu;
            rstd[row] = rs;
        }
        for (int q = t; q < head >> 2; q += dim)
        {
            var v = x.Cast<MmaFloat4>()[(o >> 2) + q];
            MmaFloat4 r;
            r.X = (v.X - mu) * rs;
            r.Y = (v.Y - mu) * rs;
            r.Z = (v.Z - mu) * rs;
            r.W = (v.W - mu) * rs;
            if (s.HasGamma != 0)
            {
                var g = gamma.Cast<MmaFloat4>()[q];
                r.X *= g.X;
                r.Y *= g.Y;
                r.Z *= g.Z;
                r.W *= g.W;
            }
            if (s.HasBeta != 0)
            {
                var b = beta.Cast<MmaFloat4>()[q];
                r.X += b.X;
                r.Y += b.Y;
                r.Z += b.Z;
                r.W += b.W;
            }
            y.Cast<MmaFloat4>()[(o >> 2) + q] = r;
        }
        for (int c = head + t; c < cols; c += dim)
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
        int head = RowQuads.Head(cols, s.Quad);
        float mu = mean[row], rs = rstd[row];
        float sg = 0f, sgx = 0f;
        for (int q = t; q < head >> 2; q += dim)
        {
            var g = ScaledQuad(dy, gamma, o, q, s.HasGamma);
            var v = x.Cast<MmaFloat4>()[(o >> 2) + q];
            sg += g.X;
            sgx += g.X * (v.X - mu) * rs;
            sg += g.Y;
            sgx += g.Y * (v.Y - mu) * rs;
            sg += g.Z;
            sgx += g.Z * (v.Z - mu) * rs;
            sg += g.W;
            sgx += g.W * (v.W - mu) * rs;
        }
        for (int c = head + t; c < cols; c += dim)
        {
            float g = s.HasGamma != 0 ? dy[o + c] * gamma[c] : dy[o + c];
            sg += g;
            sgx += g * (x[o + c] - mu) * rs;
        }
        float ma = GroupSum(shared, t, dim, sg) / cols;
        float mb = GroupSum(shared, t, dim, sgx) / cols;
        for (int q = t; q < head >> 2; q += dim)
        {
            var g = ScaledQuad(dy, gamma, o, q, s.HasGamma);
            var v = x.Cast<MmaFloat4>()[(o >> 2) + q];
            var r = dx.Cast<MmaFloat4>()[(o >> 2) + q];
            r.X += rs * (g.X - ma - (v.X - mu) * rs * mb);
            r.Y += rs * (g.Y - ma - (v.Y - mu) * rs * mb);
            r.Z += rs * (g.Z - ma - (v.Z - mu) * rs * mb);
            r.W += rs * (g.W - ma - (v.W - mu) * rs * mb);
            dx.Cast<MmaFloat4>()[(o >> 2) + q] = r;
        }
        for (int c = head + t; c < cols; c += dim)
        {
            float g = s.HasGamma != 0 ? dy[o + c] * gamma[c] : dy[o + c];
            dx[o + c] += rs * (g - ma - (x[o + c] - mu) * rs * mb);
        }
    }

    /// <summary>Quad <paramref name="q"/> of dy's row at <paramref name="o"/>, times γ's quad q where γ is real.</summary>
    private static MmaFloat4 ScaledQuad(ArrayView<float> dy, ArrayView<float> gamma, int o, int q, int hasGamma)
    {
        var d = dy.Cast<MmaFloat4>()[(o >> 2) + q];
        if (hasGamma != 0)
        {
            var g = gamma.Cast<MmaFloat4>()[q];
            d.X *= g.X;
            d.Y *= g.Y;
            d.Z *= g.Z;
            d.W *= g.W;
        }
        return d;
    }

    private static float Square(float d) => d * d;

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
