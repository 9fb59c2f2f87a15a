namespace Lddm.Autograd;

/// <summary>
/// y = a·b elementwise, with b broadcast over a's leading axes as in <see cref="AddOp"/>.
/// ∂a += ∂y·b; ∂b += ∂y·a, summed over the broadcast axes.
/// </summary>
public sealed class MulOp : Node
{
    private Tensor _a = null!, _b = null!;
    private bool _broadcast;

    public static Tensor Apply(Tensor a, Tensor b)
    {
        bool broadcast = OpCheck.Broadcasts(nameof(MulOp), a, b, "a", "b");
        var y = Tensor.Empty(a.Backend, a.Shape);
        a.Backend.Mul(a.Data, b.Data, y.Data);
        return Record(new MulOp { _a = a, _b = b, _broadcast = broadcast }, y, a, b);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        using var product = backend.Allocate<float>(gradOutput.Shape.Elements);
        if (_a.RequiresGrad)
        {
            backend.Mul(gradOutput.Data, _b.Data, product);
            backend.Axpby(1f, product, 1f, _a.GradData());
        }
        if (_b.RequiresGrad)
        {
            backend.Mul(gradOutput.Data, _a.Data, product);
            if (_broadcast)
            {
                int cols = _b.Shape.Elements;
                backend.SumRows(product, product.Length / cols, cols, _b.GradData(), accumulate: true);
            }
            else
            {
                backend.Axpby(1f, product, 1f, _b.GradData());
            }
        }
    }
}

/// <summary>
/// y = a − b, with b broadcast over a's leading axes as in <see cref="AddOp"/>.
/// ∂a += ∂y; ∂b −= ∂y summed over the broadcast axes.
/// </summary>
public sealed class SubOp : Node
{
    private Tensor _a = null!, _b = null!;
    private bool _broadcast;

    public static Tensor Apply(Tensor a, Tensor b)
    {
        bool broadcast = OpCheck.Broadcasts(nameof(SubOp), a, b, "a", "b");
        var backend = a.Backend;
        var y = Tensor.Empty(backend, a.Shape);
        // No subtract kernel: negate b into a scratch buffer, then the broadcasting add.
        using (var negB = backend.Allocate<float>(b.Shape.Elements))
        {
            backend.Axpby(-1f, b.Data, 0f, negB);
            backend.Add(a.Data, negB, y.Data);
        }
        return Record(new SubOp { _a = a, _b = b, _broadcast = broadcast }, y, a, b);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        if (_a.RequiresGrad)
        {
            backend.Axpby(1f, gradOutput.Data, 1f, _a.GradData());
        }
        if (!_b.RequiresGrad)
        {
            return;
        }
        if (_broadcast)
        {
            int cols = _b.Shape.Elements;
            using var colSums = backend.Allocate<float>(cols);
            backend.SumRows(gradOutput.Data, gradOutput.Shape.Elements / cols, cols, colSums, accumulate: false);
            backend.Axpby(-1f, colSums, 1f, _b.GradData());
        }
        else
        {
            backend.Axpby(-1f, gradOutput.Data, 1f, _b.GradData());
        }
    }
}
