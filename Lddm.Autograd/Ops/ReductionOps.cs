namespace Lddm.Autograd;

/// <summary>y = Σ x over all elements, a tensor of shape (1) that stays on the device; ∂x += ∂y[0].</summary>
public sealed class SumOp : Node
{
    private Tensor _x = null!;

    public static Tensor Apply(Tensor x)
    {
        OpCheck.Live(nameof(SumOp), x);
        return Record(new SumOp { _x = x }, FullReduction.Forward(x, 1f), x);
    }

    protected internal override void Backward(Tensor gradOutput) => FullReduction.Backward(_x, gradOutput, 1f);
}

/// <summary>y = (1/n)·Σ x over all n ≥ 1 elements, a tensor of shape (1); ∂x += ∂y[0]/n.</summary>
public sealed class MeanOp : Node
{
    private Tensor _x = null!;

    public static Tensor Apply(Tensor x)
    {
        OpCheck.Live(nameof(MeanOp), x);
        if (x.Shape.Elements == 0)
        {
            throw new ArgumentException($"{nameof(MeanOp)}: 'x' has shape {x.Shape} with no elements; the mean is undefined.", nameof(x));
        }
        return Record(new MeanOp { _x = x }, FullReduction.Forward(x, 1f / x.Shape.Elements), x);
    }

    protected internal override void Backward(Tensor gradOutput) =>
        FullReduction.Backward(_x, gradOutput, 1f / _x.Shape.Elements);
}

/// <summary>The kernels behind <see cref="SumOp"/> and <see cref="MeanOp"/>, with no host round trip.</summary>
internal static class FullReduction
{
    public static Tensor Forward(Tensor x, float scale)
    {
        var y = Tensor.Empty(x.Backend, new Shape(1));
        x.Backend.Sum(x.Data, y.Data, scale);
        return y;
    }

    /// <summary>∂x += scale·∂y[0]: the broadcasting add spreads the one-element ∂y over ∂x on the device.</summary>
    public static void Backward(Tensor x, Tensor gradOutput, float scale)
    {
        if (!x.RequiresGrad)
        {
            return;
        }
        var backend = x.Backend;
        var dx = x.GradData();
        if (scale == 1f)
        {
            backend.Add(dx, gradOutput.Data, dx);
            return;
        }
        using var scaled = backend.Allocate<float>(1);
        backend.Axpby(scale, gradOutput.Data, 0f, scaled);
        backend.Add(dx, scaled, dx);
    }
}
