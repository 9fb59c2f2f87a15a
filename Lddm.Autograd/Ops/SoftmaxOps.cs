namespace Lddm.Autograd;

/// <summary>
/// y = softmax(x) over the last axis (−∞ entries get probability 0); ∂x += y ⊙ (∂y − Σ ∂y ⊙ y) per row,
/// from the saved output.
/// </summary>
public sealed class SoftmaxOp : Node
{
    private Tensor _x = null!, _y = null!;

    public static Tensor Apply(Tensor x)
    {
        OpCheck.Live(nameof(SoftmaxOp), x);
        RequireRank(nameof(SoftmaxOp), x);
        var y = Tensor.Empty(x.Backend, x.Shape);
        if (y.Shape.Elements > 0)
        {
            x.Backend.SoftmaxForward(x.Data, x.Shape.Rows, x.Shape.Last, y.Data);
        }
        return Record(new SoftmaxOp { _x = x, _y = y }, y, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_x.RequiresGrad && _y.Shape.Elements > 0)
        {
            _x.Backend.SoftmaxBackward(_y.Data, gradOutput.Data, _y.Shape.Rows, _y.Shape.Last, _x.GradData());
        }
    }

    internal static void RequireRank(string op, Tensor x)
    {
        if (x.Shape.Rank < 1)
        {
            throw new ArgumentException($"{op}: 'x' must have at least one axis (the softmax runs over the last) but has shape {x.Shape}.");
        }
    }
}

/// <summary>
/// y = log softmax(x) over the last axis; ∂x += ∂y − exp(y)·Σ ∂y per row, from the saved output.
/// </summary>
public sealed class LogSoftmaxOp : Node
{
    private Tensor _x = null!, _y = null!;

    public static Tensor Apply(Tensor x)
    {
        OpCheck.Live(nameof(LogSoftmaxOp), x);
        SoftmaxOp.RequireRank(nameof(LogSoftmaxOp), x);
        var y = Tensor.Empty(x.Backend, x.Shape);
        if (y.Shape.Elements > 0)
        {
            x.Backend.LogSoftmaxForward(x.Data, x.Shape.Rows, x.Shape.Last, y.Data);
        }
        return Record(new LogSoftmaxOp { _x = x, _y = y }, y, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_x.RequiresGrad && _y.Shape.Elements > 0)
        {
            _x.Backend.LogSoftmaxBackward(_y.Data, gradOutput.Data, _y.Shape.Rows, _y.Shape.Last, _x.GradData());
        }
    }
}
