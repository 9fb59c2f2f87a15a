using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<double>, int>? _inverseNorms;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<int>, ArrayView<float>, int, int, int>? _nearest;
    private Action<Index1D, ArrayView<float>, ArrayView<double>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, EmaParams>? _emaAccumulate;
    private Action<Index1D, ArrayView<float>, ArrayView<double>, int>? _emaTotal;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<float>, EmaParams>? _emaNormalise;

    protected override void NearestCodeCore(DeviceBuffer<float> x, DeviceBuffer<float> codebook, int rows, int codes, int dim,
        DeviceBuffer<int> indices, DeviceBuffer<float>? maxSimilarity)
    {
        _inverseNorms ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, int>(QuantizeIlgpuKernels.InverseNorms);
        _nearest ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<int>, ArrayView<float>, int, int, int>(
            QuantizeIlgpuKernels.Nearest);
        using var inverse = Allocate<double>(codes);
        using var unused = maxSimilarity is null ? Allocate<float>(1) : null;
        _inverseNorms(codes, View(codebook), View(inverse), dim);
        _nearest(new KernelConfig(rows, QuantizeRule.Lanes), View(x), View(codebook), View(inverse), View(indices),
            View(maxSimilarity ?? unused!), codes, dim, maxSimilarity is null ? 0 : 1);
    }

    protected override void CodebookEmaUpdateCore(DeviceBuffer<float> x, DeviceBuffer<int> order, DeviceBuffer<int> offsets,
        int rows, int codes, int dim, double decay, double oneMinusDecay, double epsilon, DeviceBuffer<float> clusterSize,
        DeviceBuffer<float> embedAvg, DeviceBuffer<float> codebook)
    {
        _inverseNorms ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, int>(QuantizeIlgpuKernels.InverseNorms);
        _emaAccumulate ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, ArrayView<int>,
            ArrayView<int>, ArrayView<float>, ArrayView<float>, EmaParams>(QuantizeIlgpuKernels.EmaAccumulate);
        _emaTotal ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, int>(QuantizeIlgpuKernels.EmaTotal);
        _emaNormalise ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>,
            ArrayView<float>, EmaParams>(QuantizeIlgpuKernels.EmaNormalise);
        var p = new EmaParams(codes, dim, decay, oneMinusDecay, epsilon);
        using var inverse = Allocate<double>(rows);
        using var total = Allocate<double>(1);
        _inverseNorms(rows, View(x), View(inverse), dim);
        _emaAccumulate(codes * dim, View(x), View(inverse), View(order), View(offsets), View(clusterSize), View(embedAvg), p);
        _emaTotal(1, View(clusterSize), View(total), codes);
        _emaNormalise(codes, View(clusterSize), View(embedAvg), View(total), View(codebook), p);
    }
}
