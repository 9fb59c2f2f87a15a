using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>? _swapAxes;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, BlockCopyShape>? _copyBlock;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, StridedShape>? _strided;

    protected override void SwapAxesCore(DeviceBuffer<float> x, int outer, int a, int middle, int b, int inner, DeviceBuffer<float> dst)
    {
        _swapAxes ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(
            CopyIlgpuKernels.SwapAxes);
        _swapAxes(x.Length, View(x), View(dst), a, middle, b, inner);
    }

    protected override void CopyBlockCore(DeviceBuffer<float> src, int srcOffset, int srcStride, DeviceBuffer<float> dst,
        int dstOffset, int dstStride, int rows, int cols, bool accumulate)
    {
        _copyBlock ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, BlockCopyShape>(
            CopyIlgpuKernels.CopyBlock);
        _copyBlock(rows * cols, View(src), View(dst),
            new BlockCopyShape(srcOffset, srcStride, dstOffset, dstStride, cols, accumulate ? 1 : 0));
    }

    protected override void StridedCore(DeviceBuffer<float> contiguous, DeviceBuffer<float> strided, StridedLayout layout,
        bool scatter, bool accumulate)
    {
        _strided ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, StridedShape>(
            CopyIlgpuKernels.Strided);
        _strided(layout.Elements, View(contiguous), View(strided), StridedShape.Of(layout, scatter, accumulate));
    }
}
