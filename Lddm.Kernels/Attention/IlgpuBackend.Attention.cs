using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionDims,
        ArrayView<float>, ArrayView<float>>? _attentionForward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _attentionDelta;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<int>, AttentionDims, ArrayView<float>, ArrayView<float>>? _attentionBackwardKeyValue;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<int>, AttentionDims, ArrayView<float>>? _attentionBackwardQuery;
    private MemoryBuffer1D<int, Stride1D.Dense>? _attentionNoLengths;

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionDims,
        ArrayView<float>, ArrayView<float>>? _attentionForwardMma;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<int>, AttentionDims, ArrayView<float>, ArrayView<float>>? _attentionBackwardKeyValueMma;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<int>, AttentionDims, ArrayView<float>>? _attentionBackwardQueryMma;

    /// <summary>
    /// With the tensor cores on (<see cref="UseMmaMatmul"/>) and a head dim the TF32 kernel
    /// serves, the FlashAttention-2-style <see cref="AttentionMmaIlgpuKernels.ForwardMma"/>; otherwise the FP32 kernel.
    /// </summary>
    protected override void AttentionForwardCore(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v,
        DeviceBuffer<int>? validLengths, AttentionDims dims, DeviceBuffer<float> o, DeviceBuffer<float> lse)
    {
        if (UseMmaMatmul && AttentionMmaIlgpuKernels.Supports(dims.HeadDim))
        {
            _attentionForwardMma ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<int>, AttentionDims, ArrayView<float>, ArrayView<float>>(AttentionMmaIlgpuKernels.ForwardMma);
            _attentionForwardMma(new KernelConfig(dims.Pairs * Tiles(dims.Tokens, AttentionMmaIlgpuKernels.TileQ),
                AttentionMmaIlgpuKernels.Threads), View(q), View(k), View(v), LengthsView(validLengths), dims, View(o), View(lse));
            return;
        }
        _attentionForward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<int>, AttentionDims, ArrayView<float>, ArrayView<float>>>(
            AttentionIlgpuKernels.Forward, AttentionIlgpuKernels.ForwardNoShuffle));
        int groups = dims.Pairs * Tiles(dims.Tokens, AttentionIlgpuKernels.FwdQ);
        _attentionForward(new KernelConfig(groups, AttentionIlgpuKernels.Threads), View(q), View(k), View(v),
            LengthsView(validLengths), dims, View(o), View(lse));
    }

    protected override void AttentionBackwardCore(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, DeviceBuffer<float> dO, DeviceBuffer<int>? validLengths,
        AttentionDims dims, DeviceBuffer<float> dq, DeviceBuffer<float> dk, DeviceBuffer<float> dv)
    {
        _attentionDelta ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int>(AttentionIlgpuKernels.Delta);
        _attentionBackwardKeyValue ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionDims, ArrayView<float>,
            ArrayView<float>>(AttentionIlgpuKernels.BackwardKeyValue);
        _attentionBackwardQuery ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionDims,
            ArrayView<float>>(AttentionIlgpuKernels.BackwardQuery);
        int rows = dims.Pairs * dims.Tokens;
        // The stream orders the kernels, so returning delta to the pool right after the launches is safe.
        using var delta = Allocate<float>(rows);
        _attentionDelta(rows, View(o), View(dO), View(delta), dims.HeadDim);
        var lengths = LengthsView(validLengths);
        if (UseMmaMatmul && AttentionMmaIlgpuKernels.Supports(dims.HeadDim))
        {
            // The tensor-core pair: dK/dV per 32-key tile, dQ per 32-query tile (each group the only writer of its rows).
            _attentionBackwardKeyValueMma ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionDims, ArrayView<float>,
                ArrayView<float>>(AttentionMmaIlgpuKernels.BackwardKeyValueMma);
            _attentionBackwardQueryMma ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionDims,
                ArrayView<float>>(AttentionMmaIlgpuKernels.BackwardQueryMma);
            var config = new KernelConfig(dims.Pairs * Tiles(dims.Tokens, AttentionMmaIlgpuKernels.BwdTile), AttentionMmaIlgpuKernels.BwdThreads);
            _attentionBackwardKeyValueMma(config, View(q), View(k), View(v), View(lse), View(delta), View(dO), lengths, dims,
                View(dk), View(dv));
            _attentionBackwardQueryMma(config, View(q), View(k), View(v), View(lse), View(delta), View(dO), lengths, dims, View(dq));
            return;
        }
        int threads = AttentionIlgpuKernels.Threads;
        _attentionBackwardKeyValue(new KernelConfig(dims.Pairs * Tiles(dims.Tokens, AttentionIlgpuKernels.BwdK), threads),
            View(q), View(k), View(v), View(lse), View(delta), View(dO), lengths, dims, View(dk), View(dv));
        _attentionBackwardQuery(new KernelConfig(dims.Pairs * Tiles(dims.Tokens, AttentionIlgpuKernels.BwdQ), threads),
            View(q), View(k), View(v), View(lse), View(delta), View(dO), lengths, dims, View(dq));
    }

    private static int Tiles(int n, int tile) => (n + tile - 1) / tile;

    /// <summary>
    /// The lengths view, or a 1-element placeholder the kernels never read when there is no padding (allocated
    /// outside the pool so it never shows as a live pooled buffer; freed with the accelerator).
    /// </summary>
    private ArrayView<int> LengthsView(DeviceBuffer<int>? validLengths) =>
        validLengths is null ? (_attentionNoLengths ??= _accelerator.Allocate1D<int>(1)).View : View(validLengths);
}
