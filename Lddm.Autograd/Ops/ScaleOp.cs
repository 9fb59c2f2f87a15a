namespace Lddm.Autograd;

/// <summary>y = α·x; ∂x += α·∂y.</summary>
public sealed class ScaleOp : Node
{
    private Tensor _x = null!;
    private float _alpha;

    public static Tensor Apply(Tensor x, float alpha)
    {
        OpCheck.Live(nameof(ScaleOp), x);
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.Axpby(alpha, x.Data, 0f, y.Data);
        return Record(new ScaleOp { _x = x, _alpha = alpha }, y, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_x.RequiresGrad)
        {
            _x.Backend.Axpby(_alpha, gradOutput.Data, 1f, _x.GradData());
        }
    }
}
