using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>? _subsForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _subsBackward;

    protected override void SubsCrossEntropyForwardCore(DeviceBuffer<float> logits, DeviceBuffer<int> targets,
        DeviceBuffer<int> noisy, DeviceBuffer<float> weights, int rows, int vocab, DeviceBuffer<float> loss)
    {
        _subsForward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>>(
            CrossEntropyIlgpuKernels.SubsForward, CrossEntropyIlgpuKernels.SubsForwardNoShuffle));
        // Rows of V floats: quads need V % 4 = 0 (then K = V − 1 leaves a 3-float tail, the MASK column never read).
        int quad = RowQuad(vocab, logits);
        _subsForward(RowConfig(rows, vocab - 1, quad), View(logits), View(targets), View(noisy), View(weights), View(loss),
            vocab, quad);
    }

    protected override void SubsCrossEntropyBackwardCore(DeviceBuffer<float> logits, DeviceBuffer<int> targets,
        DeviceBuffer<int> noisy, DeviceBuffer<float> weights, DeviceBuffer<float> dloss, int rows, int vocab,
        DeviceBuffer<float> dlogits)
    {
        _subsBackward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>>(
            CrossEntropyIlgpuKernels.SubsBackward, CrossEntropyIlgpuKernels.SubsBackwardNoShuffle));
        int quad = RowQuad(vocab, logits, dlogits);
        _subsBackward(RowConfig(rows, vocab - 1, quad), View(logits), View(targets), View(noisy), View(weights), View(dloss),
            View(dlogits), vocab, quad);
    }
}
