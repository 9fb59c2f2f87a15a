using System.Globalization;
using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// Multi-head attention straight from a fused QKV projection: qkv (B, T, 3·heads·D), per token [q | k | v] each
/// [head 0 | head 1 | …] → o (B, T, heads·D), with RoPE on q and k (null theta: none). The same function as
/// reshape → transpose → slices → <see cref="RopeOp"/> → <see cref="AttentionOp"/> → transpose → reshape, but the
/// kernels read the heads in place and write o merged, so no split, rotate or merge copies run in either pass;
/// the backward writes dqkv (no zero fill) when it is qkv's gradient's first writer.
/// </summary>
public sealed class QkvAttentionOp : Node
{
    private Tensor _qkv = null!, _o = null!, _lse = null!;
    private IntTensor? _lengths;
    private AttentionMask _mask;
    private int _heads;
    private float? _theta;

    public static Tensor Apply(Tensor qkv, int heads, float? ropeTheta, AttentionMask mask = AttentionMask.None,
        IntTensor? validLengths = null)
    {
        const string op = nameof(QkvAttentionOp);
        OpCheck.Rank(op, qkv, "qkv", 3);
        validLengths?.ThrowIfDisposed(op);
        int b = qkv.Shape[0], t = qkv.Shape[1], width = qkv.Shape[2];
        if (heads <= 0 || width % (3 * heads) != 0)
        {
            throw new ArgumentException(
                $"{op}: the last axis of 'qkv' {qkv.Shape} must be 3 · heads · headDim with heads = {heads} > 0.", nameof(heads));
        }
        int d = width / (3 * heads);
        if (ropeTheta is float theta && (!(theta > 1f) || !float.IsFinite(theta) || d % 2 != 0))
        {
            throw new ArgumentOutOfRangeException(nameof(ropeTheta), theta,
                $"{op}: RoPE needs a finite 'ropeTheta' > 1 (was {theta.ToString(CultureInfo.InvariantCulture)}) and an even head dimension (was {d}).");
        }
        if (validLengths is not null && validLengths.Shape != new Shape(b))
        {
            throw new ArgumentException($"{op}: shape mismatch: 'validLengths' is {validLengths.Shape} but qkv {qkv.Shape} needs ({b}).");
        }
        var o = Tensor.Empty(qkv.Backend, new Shape(b, t, heads * d));
        var lse = Tensor.Empty(qkv.Backend, new Shape(b, heads, t));
        qkv.Backend.AttentionQkvForward(qkv.Data, validLengths?.Data, b, heads, t, d, mask, ropeTheta, o.Data, lse.Data);
        var node = new QkvAttentionOp
        {
            _qkv = qkv,
            _o = o,
            _lse = lse,
            _lengths = validLengths,
            _mask = mask,
            _heads = heads,
            _theta = ropeTheta,
        };
        return Record(node, o, qkv);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (!_qkv.RequiresGrad)
        {
            return;
        }
        var s = _qkv.Shape;
        var dqkv = _qkv.GradForWrite(out float beta);
        _qkv.Backend.AttentionQkvBackward(_qkv.Data, _o.Data, _lse.Data, gradOutput.Data, _lengths?.Data, s[0], _heads,
            s[1], s[2] / (3 * _heads), _mask, _theta, dqkv, accumulate: beta != 0f);
    }
}
