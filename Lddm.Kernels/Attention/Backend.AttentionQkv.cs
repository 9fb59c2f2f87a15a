using System.Globalization;

namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// <see cref="AttentionForward"/> read straight from a fused QKV projection's output, with RoPE: no head split,
    /// rotation or merge copies. <paramref name="qkv"/> is (batch, tokens, 3, heads, headDim) row-major — per token
    /// [q | k | v], each [head 0 | head 1 | …] — so q[b,h,t,:] = qkv[b,t,0,h,:], k = qkv[b,t,1,h,:],
    /// v = qkv[b,t,2,h,:]. With <paramref name="ropeTheta"/> set, q and k are rotated first exactly as
    /// <see cref="RopeForward"/> does (position t = token index; headDim must be even); null: no rotation.
    /// <paramref name="o"/> is written merged, (batch, tokens, heads, headDim) = (batch, tokens, heads·headDim);
    /// <paramref name="lse"/> is (batch, heads, tokens). Masks, valid lengths and the empty-row rule as in
    /// <see cref="AttentionForward"/>. Equals split → RoPE → AttentionForward → merge.
    /// </summary>
    public void AttentionQkvForward(DeviceBuffer<float> qkv, DeviceBuffer<int>? validLengths, int batch, int heads,
        int tokens, int headDim, AttentionMask mask, float? ropeTheta, DeviceBuffer<float> o, DeviceBuffer<float> lse)
    {
        const string kn = nameof(AttentionQkvForward);
        int n = CheckAttentionQkv(kn, batch, heads, tokens, headDim, mask, ropeTheta, validLengths);
        Check.Buffer(this, qkv, 3L * n, kn, nameof(qkv), $"({batch}, {tokens}, 3, {heads}, {headDim})");
        Check.Buffer(this, o, n, kn, nameof(o), $"({batch}, {tokens}, {heads}, {headDim})");
        Check.Buffer(this, lse, (long)batch * heads * tokens, kn, nameof(lse), $"({batch}, {heads}, {tokens})");
        AttentionQkvForwardCore(qkv, validLengths, new AttentionDims(batch, heads, tokens, headDim, mask), ropeTheta, o, lse);
    }

    /// <summary>
    /// Backward of <see cref="AttentionQkvForward"/>: the gradients of q, k (rotated back by −a when RoPE is on)
    /// and v land in their places of <paramref name="dqkv"/> (batch, tokens, 3, heads, headDim). Every element of
    /// dqkv is written: added to with <paramref name="accumulate"/>, overwritten otherwise (the tape's first writer).
    /// o and lse are the forward's outputs, dO has o's (batch, tokens, heads, headDim) shape.
    /// </summary>
    public void AttentionQkvBackward(DeviceBuffer<float> qkv, DeviceBuffer<float> o, DeviceBuffer<float> lse,
        DeviceBuffer<float> dO, DeviceBuffer<int>? validLengths, int batch, int heads, int tokens, int headDim,
        AttentionMask mask, float? ropeTheta, DeviceBuffer<float> dqkv, bool accumulate)
    {
        const string kn = nameof(AttentionQkvBackward);
        int n = CheckAttentionQkv(kn, batch, heads, tokens, headDim, mask, ropeTheta, validLengths);
        string qkvShape = $"({batch}, {tokens}, 3, {heads}, {headDim})", oShape = $"({batch}, {tokens}, {heads}, {headDim})";
        Check.Buffer(this, qkv, 3L * n, kn, nameof(qkv), qkvShape);
        Check.Buffer(this, o, n, kn, nameof(o), oShape);
        Check.Buffer(this, lse, (long)batch * heads * tokens, kn, nameof(lse), $"({batch}, {heads}, {tokens})");
        Check.Buffer(this, dO, n, kn, nameof(dO), oShape);
        Check.Buffer(this, dqkv, 3L * n, kn, nameof(dqkv), qkvShape);
        AttentionQkvBackwardCore(qkv, o, lse, dO, validLengths, new AttentionDims(batch, heads, tokens, headDim, mask),
            ropeTheta, dqkv, accumulate);
    }

    protected abstract void AttentionQkvForwardCore(DeviceBuffer<float> qkv, DeviceBuffer<int>? validLengths,
        AttentionDims dims, float? ropeTheta, DeviceBuffer<float> o, DeviceBuffer<float> lse);

    protected abstract void AttentionQkvBackwardCore(DeviceBuffer<float> qkv, DeviceBuffer<float> o,
        DeviceBuffer<float> lse, DeviceBuffer<float> dO, DeviceBuffer<int>? validLengths, AttentionDims dims,
        float? ropeTheta, DeviceBuffer<float> dqkv, bool accumulate);

    private int CheckAttentionQkv(string kn, int batch, int heads, int tokens, int headDim, AttentionMask mask,
        float? ropeTheta, DeviceBuffer<int>? validLengths)
    {
        int n = CheckAttentionShape(kn, batch, heads, tokens, headDim, mask, validLengths);
        Check.Elements(kn, batch, tokens, 3, heads, headDim);
        if (ropeTheta is float theta)
        {
            if (headDim % 2 != 0)
            {
                throw new ArgumentException(
                    $"{kn}: 'headDim' must be even with RoPE (pairs (i, i + headDim/2) rotate together) but was {headDim}.",
                    nameof(headDim));
            }
            if (!(theta > 1f) || !float.IsFinite(theta))
            {
                throw new ArgumentOutOfRangeException(nameof(ropeTheta), theta,
                    $"{kn}: 'ropeTheta' (the RoPE frequency base) must be finite and greater than 1 but was {theta.ToString(CultureInfo.InvariantCulture)}; pass null for no RoPE.");
            }
        }
        return n;
    }
}
