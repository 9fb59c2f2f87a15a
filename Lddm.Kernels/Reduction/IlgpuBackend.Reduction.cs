using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, int, ArrayView<float>, int, int>? _partialSums;
    private Action<KernelConfig, ArrayView<float>, int, ArrayView<float>, float, int>? _finalSum;
    private Action<KernelConfig, ArrayView<float>, int, int, int, int, ArrayView<float>>? _columnPartials;
    private Action<Index1D, ArrayView<float>, int, int, ArrayView<float>, int>? _columnFinal;
    private Action<KernelConfig, ArrayView<float>, int, ArrayView<float>, int>? _sumCols;

    protected override void SumCore(DeviceBuffer<float> x, DeviceBuffer<float> result, float scale, bool accumulate) =>
        ReduceInto([x], square: false, result, scale, accumulate);

    protected override void SumRowsCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> result, bool accumulate)
    {
        _columnPartials ??= _accelerator.LoadStreamKernel<ArrayView<float>, int, int, int, int, ArrayView<float>>(
            ReductionIlgpuKernels.ColumnPartialSums);
        _columnFinal ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, ArrayView<float>, int>(
            ReductionIlgpuKernels.ColumnFinalSums);
        var (colBlocks, chunks, chunkRows) = ColumnReductionPlan(rows, cols);
        // Pooled scratch: released after both launches are queued, so a later kernel on this stream reuses it safely.
        using var partials = Allocate<float>(chunks * cols);
        _columnPartials(new KernelConfig(colBlocks * chunks, ReductionIlgpuKernels.ColumnTile * ReductionIlgpuKernels.ColumnRowLanes),
            View(x), rows, cols, colBlocks, chunkRows, View(partials));
        _columnFinal(cols, View(partials), chunks, cols, View(result), accumulate ? 1 : 0);
    }

    protected override void SumColsCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> result, bool accumulate)
    {
        _sumCols ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, int, ArrayView<float>, int>>(
            ReductionIlgpuKernels.SumCols, ReductionIlgpuKernels.SumColsNoShuffle));
        _sumCols(new KernelConfig(rows, ReductionIlgpuKernels.RowGroupSize), View(x), cols, View(result), accumulate ? 1 : 0);
    }

    /// <summary>
    /// The split of a (rows, cols) column reduction: 32-column blocks × row chunks of at least 8 rows (one per row
    /// lane), about 512 groups on a GPU; the simulator (one OS thread per GPU thread) gets at most 4 chunks, still
    /// more than one whenever rows > 8, so its tests cover the second stage. The split depends only on the shape
    /// and the device kind: the same input sums in the same order every time.
    /// </summary>
    internal (int ColBlocks, int Chunks, int ChunkRows) ColumnReductionPlan(int rows, int cols)
    {
        const int tile = ReductionIlgpuKernels.ColumnTile, lanes = ReductionIlgpuKernels.ColumnRowLanes;
        int colBlocks = (cols + tile - 1) / tile;
        int wanted = Kind == BackendKind.IlgpuCpu ? 4 : Math.Max(1, (512 + colBlocks - 1) / colBlocks);
        int chunks = Math.Clamp(wanted, 1, Math.Max(1, (rows + lanes - 1) / lanes));
        int chunkRows = (rows + chunks - 1) / chunks;
        chunkRows = (chunkRows + lanes - 1) / lanes * lanes;
        chunks = (rows + chunkRows - 1) / chunkRows;
        if ((long)colBlocks * chunks > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(cols), $"Column reduction of ({rows}, {cols}) needs too many groups.");
        }
        return (colBlocks, chunks, chunkRows);
    }

    /// <summary>
    /// result[0] = (accumulate ? result[0] : 0) + scale·Σ over every buffer of Σ map(x): one partial-sum launch per
    /// buffer into a shared partials buffer, then one final single-group pass. The group count depends only on
    /// the length (and the device), so the same input reduces in the same order every time.
    /// </summary>
    internal void ReduceInto(IReadOnlyList<DeviceBuffer<float>> xs, bool square, DeviceBuffer<float> result, float scale, bool accumulate)
    {
        _partialSums ??= _accelerator.LoadStreamKernel<ArrayView<float>, int, ArrayView<float>, int, int>(
            ReductionIlgpuKernels.PartialSums);
        _finalSum ??= _accelerator.LoadStreamKernel<ArrayView<float>, int, ArrayView<float>, float, int>(
            ReductionIlgpuKernels.FinalSum);
        // The simulator runs each GPU thread as an OS thread: few groups there; enough to fill a GPU elsewhere.
        int maxGroups = Kind == BackendKind.IlgpuCpu ? 4 : 1024;
        var groups = new int[xs.Count];
        int total = 0;
        for (int b = 0; b < xs.Count; b++)
        {
            groups[b] = Math.Min(maxGroups, (xs[b].Length + ReductionIlgpuKernels.GroupSize - 1) / ReductionIlgpuKernels.GroupSize);
            total += groups[b];
        }
        // Pooled scratch: released after the launches are queued, so a later kernel on this stream reuses it safely.
        using var partials = Allocate<float>(Math.Max(1, total));
        int offset = 0;
        for (int b = 0; b < xs.Count; b++)
        {
            if (groups[b] > 0)
            {
                _partialSums(new KernelConfig(groups[b], ReductionIlgpuKernels.GroupSize),
                    View(xs[b]), xs[b].Length, View(partials), offset, square ? 1 : 0);
            }
            offset += groups[b];
        }
        _finalSum(new KernelConfig(1, ReductionIlgpuKernels.GroupSize), View(partials), total, View(result), scale,
            accumulate ? 1 : 0);
    }
}
