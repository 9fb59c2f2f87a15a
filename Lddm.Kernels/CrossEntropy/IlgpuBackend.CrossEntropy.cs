using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>? _subsForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _subsBackward;

    protected override void SubsCrossEntropyForwardCore(DeviceBuffer<float> logits, DeviceBuffer<int> targets,
        DeviceBuffer<int> noisy, DeviceBuffer<float> weights, int rows, int vocab, DeviceBuffer<float> loss)
    {
        _subsForward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>>(
            CrossEntropyIlgpuKernels.SubsForward, CrossEntropyIlgpuKernels.SubsForwardNoShuffle));
        _subsForward(RowConfig(rows, vocab - 1), View(logits), View(targets), View(noisy), View(weights), View(loss), vocab);
    }

    protected override void SubsCrossEntropyBackwardCore(DeviceBuffer<float> logits, DeviceBuffer<int> targets,
        DeviceBuffer<int> noisy, DeviceBuffer<float> weights, DeviceBuffer<float> dloss, int rows, int vocab,
        DeviceBuffer<float> dlogits)
    {
        _subsBackward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(
            CrossEntropyIlgpuKernels.SubsBackward, CrossEntropyIlgpuKernels.SubsBackwardNoShuffle));
        _subsBackward(RowConfig(rows, vocab - 1), View(logits), View(targets), View(noisy), View(weights), View(dloss),
            View(dlogits), vocab);
    }
}
