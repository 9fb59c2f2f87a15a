namespace Lddm.Autograd;

/// <summary>
/// Scaled dot-product attention composed from recorded ops — the reference path for a fused attention kernel:
/// softmax(q·kᵀ/√D [+ causal mask])·v for q, k, v of shape (B, heads, T, D) → (B, heads, T, D). Not a node of its
/// own: its gradient is that of <see cref="MatmulOp"/>, <see cref="ScaleOp"/>, <see cref="AddOp"/> and
/// <see cref="SoftmaxOp"/>. The causal mask adds −∞ above the diagonal, so position t attends to positions ≤ t
/// only (the diagonal is always kept, so no row is fully masked).
/// </summary>
public static class ComposedAttention
{
    public static Tensor Apply(Tensor q, Tensor k, Tensor v, bool causal = false)
    {
        const string op = nameof(ComposedAttention);
        OpCheck.Rank(op, q, "q", 4);
        OpCheck.SameShape(op, q, k, "q", "k");
        OpCheck.SameShape(op, q, v, "q", "v");
        int t = q.Shape[2], d = q.Shape[3];
        if (t == 0 || d == 0)
        {
            throw new ArgumentException($"{op}: 'q' {q.Shape} needs T ≥ 1 and D ≥ 1.");
        }
        // Outside a tape nothing is recorded and the caller owns only the result: free the intermediates here.
        bool free = Tape.Current is null;
        var scores = MatmulOp.Apply(q, k, transposeB: true);
        var scaled = ScaleOp.Apply(scores, 1f / MathF.Sqrt(d));
        Free(free, scores);
        if (causal)
        {
            var mask = CausalMask(q, t);
            var masked = AddOp.Apply(scaled, mask);
            Free(free, mask, scaled);
            scaled = masked;
        }
        var probs = SoftmaxOp.Apply(scaled);
        Free(free, scaled);
        var y = MatmulOp.Apply(probs, v);
        Free(free, probs);
        return y;
    }

    /// <summary>The additive (T, T) causal mask: 0 on and below the diagonal, −∞ above it.</summary>
    private static Tensor CausalMask(Tensor like, int t)
    {
        var m = new float[t * t];
        for (int i = 0; i < t; i++)
        {
            m.AsSpan(i * t + i + 1, t - i - 1).Fill(float.NegativeInfinity);
        }
        return Tensor.FromArray(like.Backend, m, t, t);
    }

    private static void Free(bool free, params Tensor[] tensors)
    {
        if (free)
        {
            foreach (var x in tensors)
            {
                x.Dispose();
            }
        }
    }
}
