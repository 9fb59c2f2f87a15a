using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _add, _mul;
    private Action<Index1D, float, ArrayView<float>, float, ArrayView<float>>? _axpby;

    protected override void AddCore(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dst)
    {
        if (a.Length == 0)
        {
            return;
        }
        _add ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(
            ElementwiseIlgpuKernels.Add);
        _add(a.Length, View(a), View(b), View(dst), b.Length);
    }

    protected override void MulCore(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dst)
    {
        if (a.Length == 0)
        {
            return;
        }
        _mul ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(
            ElementwiseIlgpuKernels.Mul);
        _mul(a.Length, View(a), View(b), View(dst), b.Length);
    }

    protected override void AxpbyCore(float alpha, DeviceBuffer<float> x, float beta, DeviceBuffer<float> y)
    {
        if (x.Length == 0)
        {
            return;
        }
        _axpby ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, float, ArrayView<float>, float, ArrayView<float>>(
            ElementwiseIlgpuKernels.Axpby);
        _axpby(x.Length, alpha, View(x), beta, View(y));
    }
}
