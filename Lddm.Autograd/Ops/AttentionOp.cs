using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// Fused multi-head attention (flash-style kernels on every backend): q, k, v of shape (B, heads, T, D) →
/// softmax(q·kᵀ/√D + mask)·v, never materialising the T×T scores. Saves the output and the row log-sum-exp;
/// the backward recomputes the scores. Masks: none (bidirectional), causal, key padding (per-sequence valid
/// lengths, (B) ints), or both. A query with no allowed key outputs 0 and passes no gradient.
/// </summary>
public sealed class AttentionOp : Node
{
    private Tensor _q = null!, _k = null!, _v = null!, _o = null!, _lse = null!;
    private IntTensor? _lengths;
    private AttentionMask _mask;

    public static Tensor Apply(Tensor q, Tensor k, Tensor v, AttentionMask mask = AttentionMask.None, IntTensor? validLengths = null)
    {
        const string op = nameof(AttentionOp);
        OpCheck.Rank(op, q, "q", 4);
        OpCheck.SameShape(op, q, k, "q", "k");
        OpCheck.SameShape(op, q, v, "q", "v");
        validLengths?.ThrowIfDisposed(op);
        int b = q.Shape[0], h = q.Shape[1], t = q.Shape[2], d = q.Shape[3];
        if (validLengths is not null && validLengths.Shape != new Shape(b))
        {
            throw new ArgumentException($"{op}: shape mismatch: 'validLengths' is {validLengths.Shape} but q {q.Shape} needs ({b}).");
        }
        var o = Tensor.Empty(q.Backend, q.Shape);
        var lse = Tensor.Empty(q.Backend, new Shape(b, h, t));
        q.Backend.AttentionForward(q.Data, k.Data, v.Data, validLengths?.Data, b, h, t, d, mask, o.Data, lse.Data);
        var node = new AttentionOp { _q = q, _k = k, _v = v, _o = o, _lse = lse, _lengths = validLengths, _mask = mask };
        return Record(node, o, q, k, v);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        var s = _q.Shape;
        // The kernel writes all three gradients; inputs that need none get a scratch buffer.
        using var scratch = new ScratchGrads(backend, s.Elements);
        backend.AttentionBackward(_q.Data, _k.Data, _v.Data, _o.Data, _lse.Data, gradOutput.Data, _lengths?.Data,
            s[0], s[1], s[2], s[3], _mask, scratch.For(_q), scratch.For(_k), scratch.For(_v));
    }

    /// <summary>Gradient buffers for the inputs that require them; zeroed scratch for the others.</summary>
    private sealed class ScratchGrads(Backend backend, int elements) : IDisposable
    {
        private readonly List<DeviceBuffer<float>> _owned = new();

        public DeviceBuffer<float> For(Tensor input)
        {
            if (input.RequiresGrad)
            {
                return input.GradData();
            }
            var buffer = backend.Full(elements, 0f);
            _owned.Add(buffer);
            return buffer;
        }

        public void Dispose()
        {
            foreach (var b in _owned)
            {
                b.Dispose();
            }
        }
    }
}
