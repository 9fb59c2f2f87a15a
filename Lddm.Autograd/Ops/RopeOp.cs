using System.Globalization;

namespace Lddm.Autograd;

/// <summary>
/// Rotary position embedding (GPT-NeoX rotate_half) of x (B, heads, T, D), D even, position t = token index.
/// The rotation is orthogonal, so ∂x += R(−a)·∂y.
/// </summary>
public sealed class RopeOp : Node
{
    private Tensor _x = null!;
    private float _theta;

    public static Tensor Apply(Tensor x, float theta = 10000f)
    {
        const string op = nameof(RopeOp);
        OpCheck.Rank(op, x, "x", 4);
        if (x.Shape[3] % 2 != 0)
        {
            throw new ArgumentException($"{op}: the head dimension (last axis) of 'x' {x.Shape} must be even.", nameof(x));
        }
        if (!(theta > 1f) || !float.IsFinite(theta))
        {
            throw new ArgumentOutOfRangeException(nameof(theta), theta,
                $"{op}: 'theta' (the frequency base) must be finite and greater than 1 but was {theta.ToString(CultureInfo.InvariantCulture)}.");
        }
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.RopeForward(x.Data, x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], theta, y.Data);
        return Record(new RopeOp { _x = x, _theta = theta }, y, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_x.RequiresGrad)
        {
            var s = _x.Shape;
            _x.Backend.RopeBackward(gradOutput.Data, s[0], s[1], s[2], s[3], _theta, _x.GradData());
        }
    }
}
