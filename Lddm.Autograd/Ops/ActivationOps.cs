using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// y = act(x + bias) over the last axis: x (…, C), bias (C) or null (a bare activation such as SiLU).
/// ∂x += ∂y·act′(x + bias); ∂bias += Σ over rows of the same.
/// </summary>
public sealed class BiasActivationOp : Node
{
    private Tensor _x = null!;
    private Tensor? _bias;
    private Activation _act;

    public static Tensor Apply(Tensor x, Tensor? bias, Activation act)
    {
        const string op = nameof(BiasActivationOp);
        OpCheck.Live(op, x, bias);
        if (!Enum.IsDefined(act))
        {
            throw new ArgumentOutOfRangeException(nameof(act), act, $"{op}: 'act' is not a defined Activation.");
        }
        if (x.Shape.Rank == 0 || x.Shape.Elements == 0)
        {
            throw new ArgumentException($"{op}: 'x' must be non-empty with at least one axis but has shape {x.Shape}.", nameof(x));
        }
        if (bias is not null)
        {
            OpCheck.SameBackend(op, x, bias, "x", "bias");
            if (bias.Shape != new Shape(x.Shape.Last))
            {
                throw new ArgumentException(
                    $"{op}: shape mismatch: 'bias' {bias.Shape} must be ({x.Shape.Last}), the last axis of 'x' {x.Shape}.", nameof(bias));
            }
        }
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.BiasActivationForward(x.Data, bias?.Data, x.Shape.Rows, x.Shape.Last, act, y.Data);
        return Record(new BiasActivationOp { _x = x, _bias = bias, _act = act }, y, x, bias);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        int rows = _x.Shape.Rows, cols = _x.Shape.Last;
        var dbias = _bias is { RequiresGrad: true } ? _bias.GradData() : null;
        if (_x.RequiresGrad)
        {
            // Written, not added, when this is x's first gradient (no zero fill).
            var dx = _x.GradForWrite(out float beta);
            backend.BiasActivationBackward(_x.Data, _bias?.Data, gradOutput.Data, rows, cols, _act, dx, dbias, writeDx: beta == 0f);
            return;
        }
        // The kernel always writes dx; only the bias wants a gradient here, so dx goes to scratch.
        using var scratch = backend.Allocate<float>(_x.Shape.Elements);
        backend.BiasActivationBackward(_x.Data, _bias?.Data, gradOutput.Data, rows, cols, _act, scratch, dbias, writeDx: true);
    }
}
