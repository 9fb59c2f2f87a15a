using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ActivationShape>? _actForward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ActivationShape, int>?
        _actDx;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ActivationShape,
        int, int>? _actDbiasPartials;

    protected override void ActivationForwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? bias, int rows, int cols,
        Activation act, DeviceBuffer<float> y)
    {
        _actForward ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ActivationShape>(ActivationIlgpuKernels.Forward);
        // A missing bias is passed as x's view with HasBias = 0: the kernel never reads it.
        _actForward(rows * cols, View(x), View(bias ?? x), View(y), new ActivationShape(rows, cols, (int)act, bias is null ? 0 : 1));
    }

    protected override void ActivationBackwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? bias,
        DeviceBuffer<float> dy, int rows, int cols, Activation act, DeviceBuffer<float> dx, DeviceBuffer<float>? dbias,
        bool writeDx)
    {
        var shape = new ActivationShape(rows, cols, (int)act, bias is null ? 0 : 1);
        _actDx ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ActivationShape, int>(ActivationIlgpuKernels.BackwardDx);
        _actDx(rows * cols, View(x), View(bias ?? x), View(dy), View(dx), shape, writeDx ? 1 : 0);
        if (dbias is not null)
        {
            _actDbiasPartials ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ActivationShape, int, int>(ActivationIlgpuKernels.BackwardDbiasPartials);
            _columnFinal ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, ArrayView<float>, int>(
                ReductionIlgpuKernels.ColumnFinalSums);
            var (colBlocks, chunks, chunkRows) = ColumnReductionPlan(rows, cols);
            using var partials = Allocate<float>(chunks * cols);
            _actDbiasPartials(new KernelConfig(colBlocks * chunks, ReductionIlgpuKernels.ColumnTile * ReductionIlgpuKernels.ColumnRowLanes),
                View(x), View(bias ?? x), View(dy), View(partials), shape, colBlocks, chunkRows);
            _columnFinal(cols, View(partials), chunks, cols, View(dbias), 1);
        }
    }
}
