using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<int>, UnmaskParams>? _unmaskStep;

    protected override void UnmaskStepCore(DeviceBuffer<float> logits, DeviceBuffer<int> tokens, int rows, int vocab,
        double unmaskProbability, double inverseTemperature, ulong seed, ulong stream, long offset, UnmaskMode mode,
        DeviceBuffer<int>? keep)
    {
        _unmaskStep ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<int>, UnmaskParams>(UnmaskIlgpuKernels.Step);
        // Without a carry-over mask the kernel gets a pooled empty buffer's view (one element, never read: HasKeep = 0).
        using var none = keep is null ? Allocate<int>(0) : null;
        var p = new UnmaskParams(vocab, (int)mode, unmaskProbability, inverseTemperature, seed, stream, offset, keep is null ? 0 : 1);
        _unmaskStep(new KernelConfig(rows, UnmaskRule.Lanes), View(logits), View(tokens), View(keep ?? none!), p);
    }
}
