using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamWCoefficients>? _adamW;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, float>? _ema, _clip;

    protected override void AdamWStepCore(DeviceBuffer<float> param, DeviceBuffer<float> grad, DeviceBuffer<float> m,
        DeviceBuffer<float> v, AdamWCoefficients c)
    {
        _adamW ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, AdamWCoefficients>(OptimizerIlgpuKernels.AdamW);
        _adamW(param.Length, View(param), View(grad), View(m), View(v), c);
    }

    protected override void EmaUpdateCore(DeviceBuffer<float> ema, DeviceBuffer<float> param, float decay)
    {
        _ema ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(OptimizerIlgpuKernels.Ema);
        _ema(ema.Length, View(ema), View(param), decay);
    }

    protected override void GradNormSquaredCore(IReadOnlyList<DeviceBuffer<float>> grads, DeviceBuffer<float> result) =>
        ReduceInto(grads, square: true, result, 1f, false);

    protected override void ClipByNormCore(IReadOnlyList<DeviceBuffer<float>> grads, DeviceBuffer<float> normSquared, float maxNorm)
    {
        _clip ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(OptimizerIlgpuKernels.Clip);
        foreach (var g in grads)
        {
            if (g.Length > 0)
            {
                _clip(g.Length, View(g), View(normSquared), maxNorm);
            }
        }
    }
}
