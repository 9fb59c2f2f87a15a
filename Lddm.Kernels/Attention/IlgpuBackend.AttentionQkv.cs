using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        QkvShape>? _splitQkv;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        QkvShape, int>? _mergeQkvGradients;

    /// <summary>
    /// Split (with RoPE) into pooled head-major q, k, v, the head-major attention kernels, then o merged into
    /// (B, T, H·D). The buffers go back to the pool right after the launches (the stream orders every later use).
    /// </summary>
    protected override void AttentionQkvForwardCore(DeviceBuffer<float> qkv, DeviceBuffer<int>? validLengths,
        AttentionDims dims, float? ropeTheta, DeviceBuffer<float> o, DeviceBuffer<float> lse)
    {
        int n = dims.Pairs * dims.Tokens * dims.HeadDim;
        var shape = QkvShapeOf(dims, ropeTheta);
        using var q = Allocate<float>(n);
        using var k = Allocate<float>(n);
        using var v = Allocate<float>(n);
        using var heads = Allocate<float>(n);
        SplitQkv(qkv, dims, ropeTheta, shape, q, k, v);
        AttentionForwardCore(q, k, v, validLengths, dims, heads, lse);
        // (B, H, T, D) → (B, T, H, D): the existing axis swap.
        SwapAxesCore(heads, dims.Batch, dims.Heads, 1, dims.Tokens, dims.HeadDim, o);
    }

    /// <summary>Split again, o and dO back to head-major, the head-major backward, dq/dk/dv scattered into dqkv.</summary>
    protected override void AttentionQkvBackwardCore(DeviceBuffer<float> qkv, DeviceBuffer<float> o,
        DeviceBuffer<float> lse, DeviceBuffer<float> dO, DeviceBuffer<int>? validLengths, AttentionDims dims,
        float? ropeTheta, DeviceBuffer<float> dqkv, bool accumulate)
    {
        int n = dims.Pairs * dims.Tokens * dims.HeadDim;
        var shape = QkvShapeOf(dims, ropeTheta);
        using var q = Allocate<float>(n);
        using var k = Allocate<float>(n);
        using var v = Allocate<float>(n);
        using var oh = Allocate<float>(n);
        using var dOh = Allocate<float>(n);
        using var dq = Full(n, 0f);
        using var dk = Full(n, 0f);
        using var dv = Full(n, 0f);
        SplitQkv(qkv, dims, ropeTheta, shape, q, k, v);
        // (B, T, H, D) → (B, H, T, D): the existing axis swap.
        SwapAxesCore(o, dims.Batch, dims.Tokens, 1, dims.Heads, dims.HeadDim, oh);
        SwapAxesCore(dO, dims.Batch, dims.Tokens, 1, dims.Heads, dims.HeadDim, dOh);
        AttentionBackwardCore(q, k, v, oh, lse, dOh, validLengths, dims, dq, dk, dv);
        _mergeQkvGradients ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, QkvShape, int>(AttentionQkvIlgpuKernels.MergeQkvGradients);
        _mergeQkvGradients(3 * n, View(dq), View(dk), View(dv), RopeTableView(dims.Tokens, dims.HeadDim, ropeTheta),
            View(dqkv), shape, accumulate ? 1 : 0);
    }

    private void SplitQkv(DeviceBuffer<float> qkv, AttentionDims dims, float? ropeTheta, QkvShape shape,
        DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v)
    {
        _splitQkv ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, QkvShape>(AttentionQkvIlgpuKernels.SplitQkv);
        _splitQkv(3 * dims.Pairs * dims.Tokens * dims.HeadDim, View(qkv), RopeTableView(dims.Tokens, dims.HeadDim, ropeTheta), View(q), View(k),
            View(v), shape);
    }

    private static QkvShape QkvShapeOf(AttentionDims dims, float? ropeTheta) =>
        new(dims.Batch, dims.Tokens, dims.Heads, dims.HeadDim, ropeTheta is null ? 0 : 1);
}
