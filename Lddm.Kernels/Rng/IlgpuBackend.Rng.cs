using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ulong, ulong, long>? _fillUniform;
    private Action<Index1D, ArrayView<double>, ulong, ulong, long>? _fillUniformDouble;
    private Action<Index1D, ArrayView<float>, ulong, ulong, long, float, float>? _fillNormal;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, float, float, ulong, ulong, long>? _dropoutForward, _dropoutBackward;

    protected override void FillUniformCore(ulong seed, ulong stream, long offset, DeviceBuffer<float> dst)
    {
        if (dst.Length == 0)
        {
            return;
        }
        _fillUniform ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ulong, ulong, long>(
            RngIlgpuKernels.FillUniform);
        _fillUniform(dst.Length, View(dst), seed, stream, offset);
    }

    protected override void FillUniformDoubleCore(ulong seed, ulong stream, long offset, DeviceBuffer<double> dst)
    {
        if (dst.Length == 0)
        {
            return;
        }
        _fillUniformDouble ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ulong, ulong, long>(
            RngIlgpuKernels.FillUniformDouble);
        _fillUniformDouble(dst.Length, View(dst), seed, stream, offset);
    }

    protected override void FillNormalCore(ulong seed, ulong stream, long offset, DeviceBuffer<float> dst, float mean, float std)
    {
        if (dst.Length == 0)
        {
            return;
        }
        _fillNormal ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ulong, ulong, long, float, float>(
            RngIlgpuKernels.FillNormal);
        _fillNormal(dst.Length, View(dst), seed, stream, offset, mean, std);
    }

    protected override void DropoutForwardCore(DeviceBuffer<float> x, float p, ulong seed, ulong stream, long offset, DeviceBuffer<float> y)
    {
        if (x.Length == 0)
        {
            return;
        }
        _dropoutForward ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float, float, ulong, ulong, long>(
            RngIlgpuKernels.DropoutForward);
        _dropoutForward(x.Length, View(x), View(y), p, DropoutScale(p), seed, stream, offset);
    }

    protected override void DropoutBackwardCore(DeviceBuffer<float> dy, float p, ulong seed, ulong stream, long offset, DeviceBuffer<float> dx)
    {
        if (dy.Length == 0)
        {
            return;
        }
        _dropoutBackward ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float, float, ulong, ulong, long>(
            RngIlgpuKernels.DropoutBackward);
        _dropoutBackward(dy.Length, View(dy), View(dx), p, DropoutScale(p), seed, stream, offset);
    }
}
