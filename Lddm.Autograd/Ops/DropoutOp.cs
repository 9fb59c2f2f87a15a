using System.Globalization;

namespace Lddm.Autograd;

/// <summary>
/// Inverted dropout y = x·keep/(1 − p), keep[i] = [Uniform(seed, stream, offset + i) ≥ p]. No mask is stored:
/// the backward recomputes it from the same counter. p = 0 returns x itself (no node, no copy).
/// </summary>
public sealed class DropoutOp : Node
{
    private Tensor _x = null!;
    private float _p;
    private ulong _seed, _stream;
    private long _offset;

    public static Tensor Apply(Tensor x, float p, ulong seed, ulong stream, long offset)
    {
        const string op = nameof(DropoutOp);
        OpCheck.Live(op, x);
        if (!(p >= 0f && p < 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(p), p,
                $"{op}: 'p' must be in [0, 1) but was {p.ToString(CultureInfo.InvariantCulture)} (x {x.Shape}).");
        }
        if (offset < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                $"{op}: 'offset' must be non-negative but was {offset.ToString(CultureInfo.InvariantCulture)}.");
        }
        if (p == 0f)
        {
            return x;
        }
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.DropoutForward(x.Data, p, seed, stream, offset, y.Data);
        return Record(new DropoutOp { _x = x, _p = p, _seed = seed, _stream = stream, _offset = offset }, y, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_x.RequiresGrad)
        {
            _x.Backend.DropoutBackward(gradOutput.Data, _p, _seed, _stream, _offset, _x.GradData());
        }
    }
}
