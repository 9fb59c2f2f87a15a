namespace Lddm.Kernels;

/// <summary>Which keys each query may attend to in <see cref="Backend.AttentionForward"/>. Flags combine.</summary>
[Flags]
public enum AttentionMask
{
    /// <summary>Bidirectional: every query attends to every key.</summary>
    None = 0,

    /// <summary>Query t attends to keys j ≤ t only.</summary>
    Causal = 1,

    /// <summary>Keys j ≥ validLengths[b] are excluded (per-sequence padding).</summary>
    KeyPadding = 2,

    /// <summary>Causal and key padding together: keys j ≤ t and j &lt; validLengths[b].</summary>
    CausalKeyPadding = Causal | KeyPadding,
}

public abstract partial class Backend
{
    /// <summary>Largest head dimension the fused attention kernels support.</summary>
    public const int AttentionMaxHeadDim = 128;

    /// <summary>
    /// Fused multi-head attention forward (flash-attention style: tiled online softmax, the T×T score matrix is
    /// never materialised). For every batch b, head h and query t, with s = 1/√D and the allowed keys
    /// K(t) = { j : j &lt; T, (not Causal or j ≤ t), (not KeyPadding or j &lt; validLengths[b]) }:
    /// <code>
    /// S[t,j] = s · q[b,h,t,:]·k[b,h,j,:]        lse[b,h,t] = log Σ_{j∈K(t)} exp S[t,j]
    /// o[b,h,t,:] = Σ_{j∈K(t)} exp(S[t,j] − lse[b,h,t]) · v[b,h,j,:]
    /// </code>
    /// Shapes: q, k, v, o (batch, heads, tokens, headDim) row-major; lse (batch, heads, tokens);
    /// validLengths (batch) with values in [0, tokens], required with <see cref="AttentionMask.KeyPadding"/> and
    /// otherwise null. A row with no allowed key (validLengths[b] = 0) gets o = 0 and lse = −∞, never NaN.
    /// headDim must be in [1, <see cref="AttentionMaxHeadDim"/>]. o and lse are fully written.
    /// </summary>
    public void AttentionForward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v,
        DeviceBuffer<int>? validLengths, int batch, int heads, int tokens, int headDim, AttentionMask mask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse)
    {
        const string kn = nameof(AttentionForward);
        int n = CheckAttentionShape(kn, batch, heads, tokens, headDim, mask, validLengths);
        string shape = $"({batch}, {heads}, {tokens}, {headDim})";
        Check.Buffer(this, q, n, kn, nameof(q), shape);
        Check.Buffer(this, k, n, kn, nameof(k), shape);
        Check.Buffer(this, v, n, kn, nameof(v), shape);
        Check.Buffer(this, o, n, kn, nameof(o), shape);
        Check.Buffer(this, lse, (long)batch * heads * tokens, kn, nameof(lse), $"({batch}, {heads}, {tokens})");
        AttentionForwardCore(q, k, v, validLengths, new AttentionDims(batch, heads, tokens, headDim, mask), o, lse);
    }

    /// <summary>
    /// Backward of <see cref="AttentionForward"/> (FlashAttention-2: scores recomputed from q, k and lse).
    /// With Δ[t] = Σ_d dO[t,d]·o[t,d], P = exp(S − lse) on allowed keys (0 elsewhere), dP = dO·vᵀ and
    /// dS = P∘(dP − Δ):
    /// <code>dq += s · dS·k      dk += s · dSᵀ·q      dv += Pᵀ·dO</code>
    /// dq, dk, dv ACCUMULATE (+=). Rows with no allowed key contribute nothing (zero gradients).
    /// Shapes as in <see cref="AttentionForward"/>; o and lse are that call's outputs, dO has o's shape.
    /// </summary>
    public void AttentionBackward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, DeviceBuffer<float> dO, DeviceBuffer<int>? validLengths,
        int batch, int heads, int tokens, int headDim, AttentionMask mask,
        DeviceBuffer<float> dq, DeviceBuffer<float> dk, DeviceBuffer<float> dv)
    {
        const string kn = nameof(AttentionBackward);
        int n = CheckAttentionShape(kn, batch, heads, tokens, headDim, mask, validLengths);
        string shape = $"({batch}, {heads}, {tokens}, {headDim})";
        Check.Buffer(this, q, n, kn, nameof(q), shape);
        Check.Buffer(this, k, n, kn, nameof(k), shape);
        Check.Buffer(this, v, n, kn, nameof(v), shape);
        Check.Buffer(this, o, n, kn, nameof(o), shape);
        Check.Buffer(this, lse, (long)batch * heads * tokens, kn, nameof(lse), $"({batch}, {heads}, {tokens})");
        Check.Buffer(this, dO, n, kn, nameof(dO), shape);
        Check.Buffer(this, dq, n, kn, nameof(dq), shape);
        Check.Buffer(this, dk, n, kn, nameof(dk), shape);
        Check.Buffer(this, dv, n, kn, nameof(dv), shape);
        AttentionBackwardCore(q, k, v, o, lse, dO, validLengths, new AttentionDims(batch, heads, tokens, headDim, mask),
            dq, dk, dv);
    }

    protected abstract void AttentionForwardCore(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v,
        DeviceBuffer<int>? validLengths, AttentionDims dims, DeviceBuffer<float> o, DeviceBuffer<float> lse);

    protected abstract void AttentionBackwardCore(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, DeviceBuffer<float> dO, DeviceBuffer<int>? validLengths,
        AttentionDims dims, DeviceBuffer<float> dq, DeviceBuffer<float> dk, DeviceBuffer<float> dv);

    /// <summary>Validates sizes, the mask and (on the host) every valid length; returns B·H·T·D.</summary>
    private int CheckAttentionShape(string kn, int batch, int heads, int tokens, int headDim, AttentionMask mask,
        DeviceBuffer<int>? validLengths)
    {
        Check.Positive(batch, kn, nameof(batch));
        Check.Positive(heads, kn, nameof(heads));
        Check.Positive(tokens, kn, nameof(tokens));
        Check.Positive(headDim, kn, nameof(headDim));
        if (headDim > AttentionMaxHeadDim)
        {
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim,
                $"{kn}: 'headDim' must be at most {AttentionMaxHeadDim} but was {headDim}.");
        }
        if ((mask & ~AttentionMask.CausalKeyPadding) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(mask), mask, $"{kn}: unknown mask value {(int)mask}.");
        }
        int n = Check.Elements(kn, batch, heads, tokens, headDim);
        if ((mask & AttentionMask.KeyPadding) == 0)
        {
            if (validLengths is not null)
            {
                throw new ArgumentException(
                    $"{kn}: 'validLengths' was given but mask {mask} has no KeyPadding; pass null or add the flag.",
                    nameof(validLengths));
            }
            return n;
        }
        if (validLengths is null)
        {
            throw new ArgumentNullException(nameof(validLengths),
                $"{kn}: mask {mask} needs 'validLengths' of shape ({batch}) but it is null.");
        }
        Check.Buffer(this, validLengths, batch, kn, nameof(validLengths), $"({batch})");
        var lengths = validLengths.ToArray();
        for (int b = 0; b < lengths.Length; b++)
        {
            if (lengths[b] < 0 || lengths[b] > tokens)
            {
                throw new ArgumentOutOfRangeException(nameof(validLengths),
                    $"{kn}: validLengths[{b}] = {lengths[b]} is outside [0, tokens = {tokens}].");
            }
        }
        return n;
    }
}

/// <summary>Validated attention sizes, passed to the backends (and, as is, to the ILGPU kernels).</summary>
public readonly struct AttentionDims(int batch, int heads, int tokens, int headDim, AttentionMask mask)
{
    public int Batch { get; } = batch;
    public int Heads { get; } = heads;
    public int Tokens { get; } = tokens;
    public int HeadDim { get; } = headDim;
    public int Mask { get; } = (int)mask;
    public float Scale { get; } = 1f / MathF.Sqrt(headDim);
    public bool Causal => (Mask & (int)AttentionMask.Causal) != 0;
    public bool Padded => (Mask & (int)AttentionMask.KeyPadding) != 0;

    /// <summary>Number of (batch, head) pairs.</summary>
    public int Pairs => Batch * Heads;
}
