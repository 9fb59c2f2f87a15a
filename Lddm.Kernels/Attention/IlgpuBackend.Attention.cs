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
        ArrayView<float>, ArrayView<int>, AttentionDims, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        int>? _attentionBackwardKeyValueMma;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionDims, int,
        ArrayView<float>>? _attentionBackwardQueryFromDsMma;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<int>, AttentionDims, ArrayView<float>>? _attentionBackwardQueryMma;

    /// <summary>The default of <see cref="AttentionScratchBudgetBytes"/>: 256 MiB, one (b, h) slice up to T = 8192.</summary>
    internal const long DefaultAttentionScratchBudgetBytes = 256L << 20;

    /// <summary>
    /// The most bytes of dSᵀ scratch the tensor-core attention backward takes from the pool at once (4·Tp² per
    /// (b, h) pair, Tp = T rounded up to 32): the pairs are processed in chunks of ⌊budget / 4·Tp²⌋; when not even one
    /// pair fits, the backward recomputes dS in its dQ kernel instead (the ~14·T²·D pair, no scratch). Tests shrink it
    /// to force chunks and the fallback.
    /// </summary>
    internal long AttentionScratchBudgetBytes { get; set; } = DefaultAttentionScratchBudgetBytes;

    /// <summary>
    /// (b, h) pairs per chunk of the tensor-core backward's dSᵀ scratch under <paramref name="budgetBytes"/>; 0 when
    /// one pair does not fit (the recomputing fallback runs).
    /// </summary>
    internal static int AttentionScratchPairs(AttentionDims dims, long budgetBytes)
    {
        long perPair = AttentionMmaIlgpuKernels.DsScratchFloatsPerPair(dims.Tokens);
        long floats = Math.Min(budgetBytes / sizeof(float), int.MaxValue); // one pooled buffer, int-indexed
        return (int)Math.Min(dims.Pairs, floats / perPair);
    }

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
            MmaBackward(q, k, v, lse, delta, dO, lengths, dims, dq, dk, dv);
            return;
        }
        int threads = AttentionIlgpuKernels.Threads;
        _attentionBackwardKeyValue(new KernelConfig(dims.Pairs * Tiles(dims.Tokens, AttentionIlgpuKernels.BwdK), threads),
            View(q), View(k), View(v), View(lse), View(delta), View(dO), lengths, dims, View(dk), View(dv));
        _attentionBackwardQuery(new KernelConfig(dims.Pairs * Tiles(dims.Tokens, AttentionIlgpuKernels.BwdQ), threads),
            View(q), View(k), View(v), View(lse), View(delta), View(dO), lengths, dims, View(dq));
    }

    /// <summary>
    /// The tensor-core backward. dK/dV per 32-key tile (each group the only writer of its rows), writing dSᵀ for a
    /// chunk of (b, h) pairs into pooled scratch, then dQ = scale·dS·K per 32-query tile from it: S, dP, dV, dK and dQ
    /// once each (~10·T²·D), every sum in a fixed order (no atomics), so the bits do not depend on the chunking.
    /// When one pair's 4·Tp² bytes exceed <see cref="AttentionScratchBudgetBytes"/>, the pair without scratch
    /// (the dQ kernel recomputes S and dP: ~14·T²·D).
    /// </summary>
    private void MmaBackward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<float> lse,
        DeviceBuffer<float> delta, DeviceBuffer<float> dO, ArrayView<int> lengths, AttentionDims dims,
        DeviceBuffer<float> dq, DeviceBuffer<float> dk, DeviceBuffer<float> dv)
    {
        _attentionBackwardKeyValueMma ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionDims, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int>(AttentionMmaIlgpuKernels.BackwardKeyValueMma);
        int tiles = Tiles(dims.Tokens, AttentionMmaIlgpuKernels.BwdTile), threads = AttentionMmaIlgpuKernels.BwdThreads;
        int chunk = AttentionScratchPairs(dims, AttentionScratchBudgetBytes);
        if (chunk == 0)
        {
            _attentionBackwardQueryMma ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionDims,
                ArrayView<float>>(AttentionMmaIlgpuKernels.BackwardQueryMma);
            var config = new KernelConfig(dims.Pairs * tiles, threads);
            // dsPair0 = −1: no dS is written, so dk's view stands in for the scratch.
            _attentionBackwardKeyValueMma(config, View(q), View(k), View(v), View(lse), View(delta), View(dO), lengths, dims,
                View(dk), View(dv), View(dk), -1);
            _attentionBackwardQueryMma(config, View(q), View(k), View(v), View(lse), View(delta), View(dO), lengths, dims, View(dq));
            return;
        }
        _attentionBackwardQueryFromDsMma ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>,
            AttentionDims, int, ArrayView<float>>(AttentionMmaIlgpuKernels.BackwardQueryFromDsMma);
        // One chunk's scratch, reused by every chunk (the stream orders the launches) and returned to the pool after
        // the last launch is queued, as delta is.
        using var ds = Allocate<float>((int)(chunk * AttentionMmaIlgpuKernels.DsScratchFloatsPerPair(dims.Tokens)));
        for (int pair0 = 0; pair0 < dims.Pairs; pair0 += chunk)
        {
            var config = new KernelConfig(Math.Min(chunk, dims.Pairs - pair0) * tiles, threads);
            _attentionBackwardKeyValueMma(config, View(q), View(k), View(v), View(lse), View(delta), View(dO), lengths, dims,
                View(dk), View(dv), View(ds), pair0);
            _attentionBackwardQueryFromDsMma(config, View(k), View(ds), lengths, dims, pair0, View(dq));
        }
    }

    private static int Tiles(int n, int tile) => (n + tile - 1) / tile;

    /// <summary>
    /// The lengths view, or a 1-element placeholder the kernels never read when there is no padding (allocated
    /// outside the pool so it never shows as a live pooled buffer; freed with the accelerator).
    /// </summary>
    private ArrayView<int> LengthsView(DeviceBuffer<int>? validLengths) =>
        validLengths is null ? (_attentionNoLengths ??= _accelerator.Allocate1D<int>(1)).View : View(validLengths);
}
