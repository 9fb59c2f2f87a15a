using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int>? _softmaxForward, _logSoftmaxForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _softmaxBackward, _logSoftmaxBackward;

    protected override void SoftmaxForwardCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y)
    {
        _softmaxForward ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(SoftmaxIlgpuKernels.SoftmaxForward);
        _softmaxForward(RowConfig(rows, cols), View(x), View(y), cols);
    }

    protected override void LogSoftmaxForwardCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y)
    {
        _logSoftmaxForward ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(SoftmaxIlgpuKernels.LogSoftmaxForward);
        _logSoftmaxForward(RowConfig(rows, cols), View(x), View(y), cols);
    }

    protected override void SoftmaxBackwardCore(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx)
    {
        _softmaxBackward ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(
            SoftmaxIlgpuKernels.SoftmaxBackward);
        _softmaxBackward(RowConfig(rows, cols), View(y), View(dy), View(dx), cols);
    }

    protected override void LogSoftmaxBackwardCore(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx)
    {
        _logSoftmaxBackward ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(
            SoftmaxIlgpuKernels.LogSoftmaxBackward);
        _logSoftmaxBackward(RowConfig(rows, cols), View(y), View(dy), View(dx), cols);
    }

    /// <summary>
    /// One group per row: the smallest power-of-two multiple of the warp that covers the row, at most 256
    /// threads (the row reductions need whole warps; wider rows are strided).
    /// </summary>
    private KernelConfig RowConfig(int rows, int cols)
    {
        int warp = _accelerator.WarpSize;
        int max = Math.Max(warp, Math.Min(256, _accelerator.MaxNumThreadsPerGroup) / warp * warp);
        int group = warp;
        while (group < cols && group * 2 <= max)
        {
            group *= 2;
        }
        return new KernelConfig(rows, group);
    }
}
