namespace Lddm.Autograd;

/// <summary>
/// y = a + b, with b broadcast over a's leading axes when its shape is a trailing part of a's
/// (a bias (H) over (B, T, H)). ∂a += ∂y; ∂b += ∂y summed over the broadcast axes.
/// </summary>
public sealed class AddOp : Node
{
    private Tensor _a = null!, _b = null!;
    private bool _broadcast;

    public static Tensor Apply(Tensor a, Tensor b)
    {
        bool broadcast = OpCheck.Broadcasts(nameof(AddOp), a, b, "a", "b");
        var y = Tensor.Empty(a.Backend, a.Shape);
        a.Backend.Add(a.Data, b.Data, y.Data);
        return Record(new AddOp { _a = a, _b = b, _broadcast = broadcast }, y, a, b);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        if (_a.RequiresGrad)
        {
            backend.Axpby(1f, gradOutput.Data, 1f, _a.GradData());
        }
        if (_b.RequiresGrad)
        {
            if (_broadcast)
            {
                int cols = _b.Shape.Elements;
                backend.SumRows(gradOutput.Data, gradOutput.Shape.Elements / cols, cols, _b.GradData(), accumulate: true);
            }
            else
            {
                backend.Axpby(1f, gradOutput.Data, 1f, _b.GradData());
            }
        }
    }
}
