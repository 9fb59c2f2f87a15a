namespace Lddm.Autograd;

/// <summary>
/// adaLN modulation y = x·(1 + scale) + shift for x (B, T, H) and one shift/scale vector (B, H) per sequence.
/// ∂x += ∂y·(1 + scale); ∂shift += Σ_t ∂y; ∂scale += Σ_t ∂y·x.
/// </summary>
public sealed class ModulateOp : Node
{
    private Tensor _x = null!, _shift = null!, _scale = null!;

    public static Tensor Apply(Tensor x, Tensor shift, Tensor scale)
    {
        var (b, t, h) = ModulationCheck.Shapes(nameof(ModulateOp), x, "x", shift, "shift");
        ModulationCheck.PerSequence(nameof(ModulateOp), x, "x", scale, "scale");
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.ModulateForward(x.Data, shift.Data, scale.Data, b, t, h, y.Data);
        return Record(new ModulateOp { _x = x, _shift = shift, _scale = scale }, y, x, shift, scale);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        int b = _x.Shape[0], t = _x.Shape[1], h = _x.Shape[2];
        // ∂x is written, not added, when it is x's first gradient (no zero fill).
        float xBeta = 1f;
        var dx = _x.RequiresGrad ? _x.GradForWrite(out xBeta) : null;
        var dshift = _shift.RequiresGrad ? _shift.GradData() : null;
        var dscale = _scale.RequiresGrad ? _scale.GradData() : null;
        if (dshift is null || !ReferenceEquals(dshift, dscale))
        {
            backend.ModulateBackward(_x.Data, _scale.Data, gradOutput.Data, b, t, h, dx, dshift, dscale, writeDx: xBeta == 0f);
            return;
        }
        // shift and scale are one tensor: the kernel's gradients must not alias, so ∂scale goes through scratch.
        using var scratch = backend.Allocate<float>(dscale!.Length);
        scratch.Fill(0f);
        backend.ModulateBackward(_x.Data, _scale.Data, gradOutput.Data, b, t, h, dx, dshift, scratch, writeDx: xBeta == 0f);
        backend.Axpby(1f, scratch, 1f, dscale);
    }
}

/// <summary>
/// adaLN-zero gated residual y = residual + gate·x for residual, x (B, T, H) and gate (B, H) per sequence
/// (also the plain gate-multiply with a zero residual). ∂residual += ∂y; ∂gate += Σ_t ∂y·x; ∂x += ∂y·gate.
/// </summary>
public sealed class GatedResidualOp : Node
{
    private Tensor _residual = null!, _gate = null!, _x = null!;

    public static Tensor Apply(Tensor residual, Tensor gate, Tensor x)
    {
        const string op = nameof(GatedResidualOp);
        var (b, t, h) = ModulationCheck.Shapes(op, x, "x", gate, "gate");
        OpCheck.SameShape(op, residual, x, "residual", "x");
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.GatedResidualForward(residual.Data, gate.Data, x.Data, b, t, h, y.Data);
        return Record(new GatedResidualOp { _residual = residual, _gate = gate, _x = x }, y, residual, gate, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        int b = _x.Shape[0], t = _x.Shape[1], h = _x.Shape[2];
        // ∂residual and ∂x are written, not added, when they are their tensor's first gradient (no zero fill).
        float resBeta = 1f, xBeta = 1f;
        var dres = _residual.RequiresGrad ? _residual.GradForWrite(out resBeta) : null;
        var dgate = _gate.RequiresGrad ? _gate.GradData() : null;
        var dx = _x.RequiresGrad ? _x.GradForWrite(out xBeta) : null;
        if (dres is null || !ReferenceEquals(dres, dx))
        {
            backend.GatedResidualBackward(_gate.Data, _x.Data, gradOutput.Data, b, t, h, dres, dgate, dx,
                writeDresidual: resBeta == 0f, writeDx: xBeta == 0f);
            return;
        }
        // residual and x are one tensor (its first GradForWrite above may have written nothing yet: resBeta says so, and
        // the second saw the buffer as existing): the kernel's gradients must not alias, so ∂x is written or added by
        // the kernel and ∂residual added after it.
        backend.GatedResidualBackward(_gate.Data, _x.Data, gradOutput.Data, b, t, h, null, dgate, dx, writeDx: resBeta == 0f);
        backend.Axpby(1f, gradOutput.Data, 1f, dres);
    }
}

/// <summary>Shape checks shared by the adaLN ops: activations (B, T, H), per-sequence vectors (B, H).</summary>
internal static class ModulationCheck
{
    public static (int B, int T, int H) Shapes(string op, Tensor x, string xName, Tensor v, string vName)
    {
        OpCheck.Rank(op, x, xName, 3);
        PerSequence(op, x, xName, v, vName);
        return (x.Shape[0], x.Shape[1], x.Shape[2]);
    }

    public static void PerSequence(string op, Tensor x, string xName, Tensor v, string vName)
    {
        OpCheck.Live(op, v);
        OpCheck.SameBackend(op, x, v, xName, vName);
        if (v.Shape != new Shape(x.Shape[0], x.Shape[^1]))
        {
            throw new ArgumentException(
                $"{op}: shape mismatch: '{vName}' {v.Shape} must be (batch, hidden) = ({x.Shape[0]}, {x.Shape[^1]}) for '{xName}' {x.Shape}.");
        }
    }
}
