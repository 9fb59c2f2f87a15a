namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// The fused-attention forward reading q, k, v in place from the (B, T, 3, H, D) QKV buffer (row stride 3·H·D)
    /// and writing o merged (B, T, H·D); RoPE is applied as q and k rows are packed into the kernels' tiles, so no
    /// split, rotate or merge pass runs. Same tiles, schedule and arithmetic as the head-major kernel.
    /// </summary>
    protected override unsafe void AttentionQkvForwardCore(DeviceBuffer<float> qkv, DeviceBuffer<int>? validLengths,
        AttentionDims dims, float? ropeTheta, DeviceBuffer<float> o, DeviceBuffer<float> lse)
    {
        var table = ropeTheta is float theta ? RopeTable.Get(dims.Tokens, dims.HeadDim, theta) : null;
        float* p = Raw(qkv).Pointer;
        long hd = (long)dims.Heads * dims.HeadDim;
        var ptr = new ForwardPointers(p, p + hd, p + 2 * hd, Raw(o).Pointer, Raw(lse).Pointer,
            validLengths is null ? null : Raw(validLengths).Pointer);
        AttentionForward(ptr, new AttentionGeometry(dims, qkvLayout: true, table), dims);
        GC.KeepAlive(table);
    }

    /// <summary>The backward of <see cref="AttentionQkvForwardCore"/>: dq, dk (rotated back) and dv stored in place.</summary>
    protected override unsafe void AttentionQkvBackwardCore(DeviceBuffer<float> qkv, DeviceBuffer<float> o,
        DeviceBuffer<float> lse, DeviceBuffer<float> dO, DeviceBuffer<int>? validLengths, AttentionDims dims,
        float? ropeTheta, DeviceBuffer<float> dqkv, bool accumulate)
    {
        var table = ropeTheta is float theta ? RopeTable.Get(dims.Tokens, dims.HeadDim, theta) : null;
        float* p = Raw(qkv).Pointer, d = Raw(dqkv).Pointer;
        long hd = (long)dims.Heads * dims.HeadDim;
        var ptr = new BackwardPointers(p, p + hd, p + 2 * hd, Raw(o).Pointer, Raw(lse).Pointer, Raw(dO).Pointer,
            validLengths is null ? null : Raw(validLengths).Pointer, d, d + hd, d + 2 * hd);
        AttentionBackward(ptr, new AttentionGeometry(dims, qkvLayout: true, table), dims, accumulate);
        GC.KeepAlive(table);
    }
}
