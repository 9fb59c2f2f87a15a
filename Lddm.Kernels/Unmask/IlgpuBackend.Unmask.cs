using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, UnmaskParams>? _unmaskStep;

    protected override void UnmaskStepCore(DeviceBuffer<float> logits, DeviceBuffer<int> tokens, int rows, int vocab,
        double unmaskProbability, double inverseTemperature, ulong seed, ulong stream, long offset, UnmaskMode mode)
    {
        _unmaskStep ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, UnmaskParams>(UnmaskIlgpuKernels.Step);
        var p = new UnmaskParams(vocab, (int)mode, unmaskProbability, inverseTemperature, seed, stream, offset);
        _unmaskStep(new KernelConfig(rows, UnmaskRule.Lanes), View(logits), View(tokens), p);
    }
}
