using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ModulationShape>?
        _modulateForward, _gatedResidualForward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, float, ArrayView<float>, ModulationShape, int>? _accumulateScaled;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int>? _accumulate;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ModulationShape>? _sumOverTokens;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ModulationShape>? _dotOverTokens;

    protected override void ModulateForwardCore(DeviceBuffer<float> x, DeviceBuffer<float> shift,
        DeviceBuffer<float> scale, int batch, int tokens, int hidden, DeviceBuffer<float> y)
    {
        _modulateForward ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ModulationShape>(ModulationIlgpuKernels.ModulateForward);
        _modulateForward(x.Length, View(x), View(shift), View(scale), View(y), new ModulationShape(tokens, hidden));
    }

    protected override void GatedResidualForwardCore(DeviceBuffer<float> residual, DeviceBuffer<float> gate,
        DeviceBuffer<float> x, int batch, int tokens, int hidden, DeviceBuffer<float> y)
    {
        _gatedResidualForward ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ModulationShape>(ModulationIlgpuKernels.GatedResidualForward);
        _gatedResidualForward(x.Length, View(residual), View(gate), View(x), View(y), new ModulationShape(tokens, hidden));
    }

    protected override void ModulateBackwardCore(DeviceBuffer<float> x, DeviceBuffer<float> scale,
        DeviceBuffer<float> dy, int batch, int tokens, int hidden,
        DeviceBuffer<float>? dx, DeviceBuffer<float>? dshift, DeviceBuffer<float>? dscale, bool writeDx)
    {
        var s = new ModulationShape(tokens, hidden);
        if (dx is not null)
        {
            AccumulateScaled(dy, scale, 1f, dx, s, writeDx);
        }
        if (dshift is not null)
        {
            _sumOverTokens ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
                ModulationShape>(ModulationIlgpuKernels.SumOverTokens);
            _sumOverTokens(dshift.Length, View(dy), View(dshift), s);
        }
        if (dscale is not null)
        {
            DotOverTokens(dy, x, dscale, s);
        }
    }

    protected override void GatedResidualBackwardCore(DeviceBuffer<float> gate, DeviceBuffer<float> x,
        DeviceBuffer<float> dy, int batch, int tokens, int hidden,
        DeviceBuffer<float>? dresidual, DeviceBuffer<float>? dgate, DeviceBuffer<float>? dx, bool writeDresidual,
        bool writeDx)
    {
        var s = new ModulationShape(tokens, hidden);
        if (dresidual is not null)
        {
            _accumulate ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(
                ModulationIlgpuKernels.Accumulate);
            _accumulate(dy.Length, View(dy), View(dresidual), writeDresidual ? 1 : 0);
        }
        if (dgate is not null)
        {
            DotOverTokens(dy, x, dgate, s);
        }
        if (dx is not null)
        {
            AccumulateScaled(dy, gate, 0f, dx, s, writeDx);
        }
    }

    private void AccumulateScaled(DeviceBuffer<float> dy, DeviceBuffer<float> v, float offset, DeviceBuffer<float> dx,
        ModulationShape s, bool write)
    {
        _accumulateScaled ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float,
            ArrayView<float>, ModulationShape, int>(ModulationIlgpuKernels.AccumulateScaled);
        _accumulateScaled(dy.Length, View(dy), View(v), offset, View(dx), s, write ? 1 : 0);
    }

    private void DotOverTokens(DeviceBuffer<float> dy, DeviceBuffer<float> x, DeviceBuffer<float> d, ModulationShape s)
    {
        _dotOverTokens ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ModulationShape>(ModulationIlgpuKernels.DotOverTokens);
        _dotOverTokens(d.Length, View(dy), View(x), View(d), s);
    }
}
