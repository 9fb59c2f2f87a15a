using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>? _embeddingForward, _embeddingBackward;

    protected override void EmbeddingForwardCore(DeviceBuffer<int> ids, DeviceBuffer<float> table, int count, int vocab,
        int dim, DeviceBuffer<float> y)
    {
        _embeddingForward ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>(
            EmbeddingIlgpuKernels.Forward);
        _embeddingForward(count * dim, View(ids), View(table), View(y), dim);
    }

    protected override void EmbeddingBackwardCore(DeviceBuffer<int> ids, DeviceBuffer<float> dy, int count, int vocab,
        int dim, DeviceBuffer<float> dtable)
    {
        _embeddingBackward ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>(
            EmbeddingIlgpuKernels.Backward);
        _embeddingBackward(count * dim, View(ids), View(dy), View(dtable), dim);
    }
}
