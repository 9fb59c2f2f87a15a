using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, LayerNormShape>? _lnForward, _lnDx;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, LayerNormShape, int, int, int>? _lnParamsPartials;
    private Action<Index1D, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, LayerNormShape>? _lnParamsFinal;

    /// <summary>
    /// Threads per LayerNorm row group: 128 on a GPU (4 warps stream a 1024-wide row in 8 coalesced steps); the
    /// CPU simulator runs one OS thread per GPU thread, so it gets a single warp of 32 (same kernel code).
    /// </summary>
    private int LayerNormGroupSize => Kind == BackendKind.IlgpuCpu ? 32 : 128;

    protected override void LayerNormForwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? gamma,
        DeviceBuffer<float>? beta, int rows, int cols, float epsilon, DeviceBuffer<float> y, DeviceBuffer<float> mean,
        DeviceBuffer<float> rstd)
    {
        _lnForward ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, LayerNormShape>(LayerNormIlgpuKernels.Forward);
        // Missing gamma/beta are passed as x's view with the flag 0: the kernel never reads them.
        var shape = new LayerNormShape(rows, cols, epsilon, gamma is null ? 0 : 1, beta is null ? 0 : 1, RowQuad(cols, x, y, gamma, beta));
        _lnForward(new KernelConfig(rows, LayerNormGroupSize), View(x), View(gamma ?? x), View(beta ?? x),
            View(y), View(mean), View(rstd), shape);
    }

    protected override void LayerNormBackwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? gamma,
        DeviceBuffer<float> mean, DeviceBuffer<float> rstd, DeviceBuffer<float> dy, int rows, int cols,
        DeviceBuffer<float> dx, DeviceBuffer<float>? dgamma, DeviceBuffer<float>? dbeta)
    {
        _lnDx ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, LayerNormShape>(LayerNormIlgpuKernels.BackwardDx);
        _lnDx(new KernelConfig(rows, LayerNormGroupSize), View(x), View(gamma ?? x), View(mean), View(rstd),
            View(dy), View(dx), new LayerNormShape(rows, cols, 0f, gamma is null ? 0 : 1, 0, RowQuad(cols, x, dy, dx, gamma)));
        int which = (dgamma is null ? 0 : 1) | (dbeta is null ? 0 : 2);
        if (which != 0)
        {
            _lnParamsPartials ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, LayerNormShape, int, int, int>(LayerNormIlgpuKernels.BackwardParamsPartials);
            _lnParamsFinal ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>,
                ArrayView<float>, LayerNormShape>(LayerNormIlgpuKernels.BackwardParamsFinal);
            // Two-stage column reduction (see ColumnReductionPlan): Σ over rows split into chunks, then the chunks folded
            // in order; the pooled scratch is released after both launches are queued.
            var (colBlocks, chunks, chunkRows) = ColumnReductionPlan(rows, cols);
            var shape = new LayerNormShape(rows, cols, 0f, 0, which);
            using var partials = Allocate<float>(2 * chunks * cols);
            _lnParamsPartials(new KernelConfig(colBlocks * chunks, ReductionIlgpuKernels.ColumnTile * ReductionIlgpuKernels.ColumnRowLanes),
                View(x), View(mean), View(rstd), View(dy), View(partials), shape, colBlocks, chunkRows, chunks);
            _lnParamsFinal(cols, View(partials), chunks, View(dgamma ?? dx), View(dbeta ?? dx), shape);
        }
    }
}
