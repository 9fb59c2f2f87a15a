namespace Lddm.Autograd;

/// <summary>
/// y = a + b, with b broadcast over a's leading axes when its shape is a trailing part of a's
/// (a bias (H) over (B, T, H)). ∂a += ∂y; ∂b += ∂y summed over the broadcast axes (each written, not added, when
/// this op is the gradient's first writer).
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
            var da = _a.GradForWrite(out float betaA);
            backend.Axpby(1f, gradOutput.Data, betaA, da);
        }
        if (_b.RequiresGrad)
        {
            if (_broadcast)
            {
                int cols = _b.Shape.Elements;
                var db = _b.GradForWrite(out float betaB);
                backend.SumRows(gradOutput.Data, gradOutput.Shape.Elements / cols, cols, db, accumulate: betaB != 0f);
            }
            else
            {
                var db = _b.GradForWrite(out float betaB);
                backend.Axpby(1f, gradOutput.Data, betaB, db);
            }
        }
    }
}
