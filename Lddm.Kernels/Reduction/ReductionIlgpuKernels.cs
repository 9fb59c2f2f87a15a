using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// Reduction ILGPU kernels. Full sums are two-stage: <see cref="PartialSums"/> leaves one float per group
/// (a shared-memory tree), then one group of <see cref="FinalSum"/> folds the partials and writes the result.
/// No float atomics, so the result is the same bits on every run.
/// </summary>
internal static class ReductionIlgpuKernels
{
    /// <summary>Threads per group of the grouped reductions (launch with exactly this group size).</summary>
    public const int GroupSize = 256;

    /// <summary>partials[offset + g] = Σ map(x[i]) over group g's grid-stride share of [0, n); map is x or x².</summary>
    [GpuKernel]
    public static void PartialSums(ArrayView<float> x, int n, ArrayView<float> partials, int offset, int square)
    {
        int tid = Group.IdxX, g = Grid.IdxX, stride = Grid.DimX * GroupSize;
        float s = 0f;
        for (int i = g * GroupSize + tid; i < n; i += stride)
        {
            float v = x[i];
            s = square != 0 ? s + v * v : s + v;
        }
        s = GroupSum(s, tid);
        if (tid == 0)
        {
            partials[offset + g] = s;
        }
    }

    /// <summary>
    /// <see cref="PartialSums"/> for many segments of one buffer in one launch: group b reads its row of
    /// <paramref name="table"/> (segment start, segment length, its group index in the segment, the segment's group
    /// count) and sums exactly the elements, in exactly the order, that group of a per-segment launch would, into
    /// partials[b] — so the result is the same bits as one <see cref="PartialSums"/> launch per segment.
    /// </summary>
    [GpuKernel]
    public static void SegmentedPartialSums(ArrayView<float> x, ArrayView<int> table, ArrayView<float> partials, int square)
    {
        int tid = Group.IdxX, b = Grid.IdxX;
        int start = table[4 * b], n = table[4 * b + 1], g = table[4 * b + 2], stride = table[4 * b + 3] * GroupSize;
        float s = 0f;
        for (int i = g * GroupSize + tid; i < n; i += stride)
        {
            float v = x[start + i];
            s = square != 0 ? s + v * v : s + v;
        }
        s = GroupSum(s, tid);
        if (tid == 0)
        {
            partials[b] = s;
        }
    }

    /// <summary>result[0] = (accumulate ? result[0] : 0) + scale·Σ partials[0..count); one group.</summary>
    [GpuKernel]
    public static void FinalSum(ArrayView<float> partials, int count, ArrayView<float> result, float scale, int accumulate)
    {
        int tid = Group.IdxX;
        float s = 0f;
        for (int i = tid; i < count; i += GroupSize)
        {
            s += partials[i];
        }
        s = GroupSum(s, tid);
        if (tid == 0)
        {
            result[0] = (accumulate != 0 ? result[0] : 0f) + scale * s;
        }
    }

    /// <summary>Columns per group of the two-stage column reductions (one warp-width of consecutive columns).</summary>
    public const int ColumnTile = 32;

    /// <summary>Row lanes per group of the two-stage column reductions (group size <see cref="ColumnTile"/>·8 = 256).</summary>
    public const int ColumnRowLanes = 8;

    /// <summary>
    /// Stage 1 of <c>SumRows</c>: group g owns columns [32·(g mod colBlocks), +32) and the row chunk
    /// j = g / colBlocks of <paramref name="chunkRows"/> rows; its 8 row lanes stride the chunk (each warp reads 32
    /// consecutive floats of a row: coalesced), then lane 0 of each column folds the 8 lane sums in order:
    /// partials[j, c] = Σ x[r, c] over the chunk.
    /// </summary>
    [GpuKernel]
    public static void ColumnPartialSums(ArrayView<float> x, int rows, int cols, int colBlocks, int chunkRows,
        ArrayView<float> partials)
    {
        var shared = SharedMemory.Allocate<float>(ColumnTile * ColumnRowLanes);
        int tid = Group.IdxX, tx = tid % ColumnTile, ty = tid / ColumnTile;
        int g = Grid.IdxX, j = g / colBlocks, c = (g - j * colBlocks) * ColumnTile + tx;
        int r0 = j * chunkRows, r1 = Math.Min(rows, r0 + chunkRows);
        float s = 0f;
        if (c < cols)
        {
            for (int r = r0 + ty; r < r1; r += ColumnRowLanes)
            {
                s += x[(long)r * cols + c];
            }
        }
        shared[tid] = s;
        Group.Barrier();
        if (ty == 0 && c < cols)
        {
            float total = 0f;
            for (int l = 0; l < ColumnRowLanes; l++)
            {
                total += shared[l * ColumnTile + tx];
            }
            partials[(long)j * cols + c] = total;
        }
    }

    /// <summary>Stage 2 of <c>SumRows</c>: result[c] (+)= Σ_j partials[j, c], chunks in order (coalesced across c).</summary>
    [GpuKernel]
    public static void ColumnFinalSums(Index1D c, ArrayView<float> partials, int chunks, int cols,
        ArrayView<float> result, int accumulate)
    {
        float s = 0f;
        for (int j = 0; j < chunks; j++)
        {
            s += partials[(long)j * cols + c];
        }
        result[c] = accumulate != 0 ? result[c] + s : s;
    }
    /// <summary>Threads per group of <see cref="SumCols"/>: one warp per row, folded by shuffles.</summary>
    public const int RowGroupSize = 32;

    /// <summary>result[r] (+)= Σ_c x[r, c]: one warp per row, lanes stride the row, then a shuffle tree.</summary>
    [GpuKernel(WarpShuffles = true)]
    public static void SumCols(ArrayView<float> x, int cols, ArrayView<float> result, int accumulate)
    {
        int lane = Group.IdxX, r = Grid.IdxX;
        float s = LanePartial(x, (long)r * cols, cols, lane);
        for (int delta = RowGroupSize / 2; delta > 0; delta >>= 1)
        {
            s += Warp.ShuffleDown(s, delta);
        }
        if (lane == 0)
        {
            result[r] = accumulate != 0 ? result[r] + s : s;
        }
    }

    /// <summary><see cref="SumCols"/> without warp shuffles: the same 32-thread groups fold through shared memory.</summary>
    [GpuKernel]
    public static void SumColsNoShuffle(ArrayView<float> x, int cols, ArrayView<float> result, int accumulate)
    {
        var tree = new TreeRowReduce(SharedMemory.Allocate<float>(RowGroupSize));
        int lane = Group.IdxX, r = Grid.IdxX;
        float s = tree.Sum(LanePartial(x, (long)r * cols, cols, lane));
        if (lane == 0)
        {
            result[r] = accumulate != 0 ? result[r] + s : s;
        }
    }

    /// <summary>Σ x[rowStart + c] over this lane's columns c ≡ lane (mod <see cref="RowGroupSize"/>).</summary>
    private static float LanePartial(ArrayView<float> x, long rowStart, int cols, int lane)
    {
        float s = 0f;
        for (int c = lane; c < cols; c += RowGroupSize)
        {
            s += x[rowStart + c];
        }
        return s;
    }

    /// <summary>Σ v over the group (every thread gets the total): a fixed-shape tree in shared memory.</summary>
    private static float GroupSum(float v, int tid)
    {
        var shared = SharedMemory.Allocate<float>(GroupSize);
        shared[tid] = v;
        Group.Barrier();
        for (int half = GroupSize / 2; half > 0; half >>= 1)
        {
            if (tid < half)
            {
                shared[tid] += shared[tid + half];
            }
            Group.Barrier();
        }
        return shared[0];
    }
}
