using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, int, ArrayView<float>, int, int>? _partialSums;
    private Action<KernelConfig, ArrayView<float>, int, ArrayView<float>, float, int>? _finalSum;
    private Action<KernelConfig, ArrayView<float>, int, int, int, int, ArrayView<float>>? _columnPartials;
    private Action<Index1D, ArrayView<float>, int, int, ArrayView<float>, int>? _columnFinal;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int>? _segmentedPartialSums;
    private readonly Dictionary<string, DeviceBuffer<int>> _segmentTables = new();
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
        if (SegmentTable(xs, groups, total) is { } table)
        {
            // Slices of one allocation (a flat gradient arena): every segment's groups in one launch, same bits.
            _segmentedPartialSums ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int>(
                ReductionIlgpuKernels.SegmentedPartialSums);
            var root = (IlgpuBuffer<float>)xs[0];
            _segmentedPartialSums(new KernelConfig(total, ReductionIlgpuKernels.GroupSize), root.Root.View, View(table),
                View(partials), square ? 1 : 0);
            _finalSum(new KernelConfig(1, ReductionIlgpuKernels.GroupSize), View(partials), total, View(result), scale,
                accumulate ? 1 : 0);
            return;
        }
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

    private void DisposeSegmentTables()
    {
        foreach (var t in _segmentTables.Values)
        {
            t.Dispose();
        }
        _segmentTables.Clear();
    }

    /// <summary>
    /// The (start, length, group, groups) table of <see cref="ReductionIlgpuKernels.SegmentedPartialSums"/> when
    /// <paramref name="xs"/> are several non-empty slices of one allocation; null otherwise. Tables are uploaded once
    /// per distinct segment list and kept (a training step reduces the same gradient slices every step).
    /// </summary>
    private DeviceBuffer<int>? SegmentTable(IReadOnlyList<DeviceBuffer<float>> xs, int[] groups, int total)
    {
        if (xs.Count < 2 || xs[0] is not IlgpuBuffer<float> { IsSlice: true } first)
        {
            return null;
        }
        var key = new System.Text.StringBuilder();
        foreach (var x in xs)
        {
            if (x is not IlgpuBuffer<float> { IsSlice: true } s || !ReferenceEquals(s.Root, first.Root) || s.Length == 0)
            {
                return null;
            }
            key.Append(s.Offset).Append(',').Append(s.Length).Append(';');
        }
        string k = key.ToString();
        lock (_gate)
        {
            if (_segmentTables.TryGetValue(k, out var cached))
            {
                return cached;
            }
        }
        var rows = new int[4 * total];
        int b = 0;
        for (int i = 0; i < xs.Count; i++)
        {
            var s = (IlgpuBuffer<float>)xs[i];
            for (int g = 0; g < groups[i]; g++, b++)
            {
                (rows[4 * b], rows[4 * b + 1], rows[4 * b + 2], rows[4 * b + 3]) = (s.Offset, s.Length, g, groups[i]);
            }
        }
        var table = Upload<int>(rows);
        lock (_gate)
        {
            if (_segmentTables.Count >= 64)
            {
                DisposeSegmentTables(); // bounded: a training run uses one or two lists
            }
            _segmentTables[k] = table;
        }
        return table;
    }
}
