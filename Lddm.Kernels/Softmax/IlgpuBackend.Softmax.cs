using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int>? _softmaxForward, _logSoftmaxForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _softmaxBackward, _logSoftmaxBackward;

    protected override void SoftmaxForwardCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y)
    {
        _softmaxForward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<float>, int>>(
            SoftmaxIlgpuKernels.SoftmaxForward, SoftmaxIlgpuKernels.SoftmaxForwardNoShuffle));
        _softmaxForward(RowConfig(rows, cols), View(x), View(y), cols);
    }

    protected override void LogSoftmaxForwardCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y)
    {
        _logSoftmaxForward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<float>, int>>(
            SoftmaxIlgpuKernels.LogSoftmaxForward, SoftmaxIlgpuKernels.LogSoftmaxForwardNoShuffle));
        _logSoftmaxForward(RowConfig(rows, cols), View(x), View(y), cols);
    }

    protected override void SoftmaxBackwardCore(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx)
    {
        _softmaxBackward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(
            SoftmaxIlgpuKernels.SoftmaxBackward, SoftmaxIlgpuKernels.SoftmaxBackwardNoShuffle));
        _softmaxBackward(RowConfig(rows, cols), View(y), View(dy), View(dx), cols);
    }

    protected override void LogSoftmaxBackwardCore(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx)
    {
        _logSoftmaxBackward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(
            SoftmaxIlgpuKernels.LogSoftmaxBackward, SoftmaxIlgpuKernels.LogSoftmaxBackwardNoShuffle));
        _logSoftmaxBackward(RowConfig(rows, cols), View(y), View(dy), View(dx), cols);
    }

    /// <summary>
    /// One group per row: the smallest power-of-two multiple of the warp that covers the row, at most 256
    /// threads (the shuffle reductions need whole warps; wider rows are strided). Without shuffles the "warp" is
    /// taken as 32 (the tree reduction takes any size), capped by the device and <see cref="RowReduce.MaxTreeGroup"/>.
    /// </summary>
    private KernelConfig RowConfig(int rows, int cols)
    {
        if (!UseWarpShuffles)
        {
            int cap = Math.Min(RowReduce.MaxTreeGroup, _accelerator.MaxNumThreadsPerGroup);
            int size = Math.Min(32, cap);
            while (size < cols && size * 2 <= cap)
            {
                size *= 2;
            }
            return new KernelConfig(rows, size);
        }
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
