using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// A linear layer in one op, y = act(x·W + bias): x (…, in), W (in, out), bias (out) or null. The forward is
/// <see cref="Backend.LinearForward"/> (on the CPU the bias and activation run inside the GEMM's tile loop); it keeps
/// the pre-activation x·W only when act is not the identity. Backward: ∂u = ∂y·act′(x·W + bias) (∂y itself for the
/// identity: no pass, no copy), then ∂x += ∂u·Wᵀ, ∂W += xᵀ·∂u, ∂bias += Σ_rows ∂u — each written, not zero-filled
/// and added, when it is the first gradient of its tensor. The same values as <see cref="MatmulOp"/> followed by
/// <see cref="BiasActivationOp"/>.
/// </summary>
public sealed class LinearOp : Node
{
    private Tensor _x = null!, _weight = null!;
    private Tensor? _bias;
    private Tensor? _pre;
    private Activation _act;
    private int _rows, _in, _out;

    public static Tensor Apply(Tensor x, Tensor weight, Tensor? bias, Activation act)
    {
        const string op = nameof(LinearOp);
        OpCheck.Live(op, x, weight, bias);
        OpCheck.SameBackend(op, x, weight, "x", "weight");
        if (!Enum.IsDefined(act))
        {
            throw new ArgumentOutOfRangeException(nameof(act), act, $"{op}: 'act' is not a defined Activation.");
        }
        if (weight.Shape.Rank != 2)
        {
            throw new ArgumentException($"{op}: 'weight' must be (in, out) but has shape {weight.Shape}.", nameof(weight));
        }
        if (x.Shape.Rank == 0 || x.Shape.Last != weight.Shape[0])
        {
            throw new ArgumentException(
                $"{op}: shape mismatch: the last axis of 'x' {x.Shape} must be the weight's input size {weight.Shape[0]} (weight {weight.Shape}).", nameof(x));
        }
        int outFeatures = weight.Shape[1];
        if (bias is not null)
        {
            OpCheck.SameBackend(op, x, bias, "x", "bias");
            if (bias.Shape != new Shape(outFeatures))
            {
                throw new ArgumentException($"{op}: shape mismatch: 'bias' {bias.Shape} must be ({outFeatures}), the weight's output size.", nameof(bias));
            }
        }
        var dims = x.Shape.ToArray();
        dims[^1] = outFeatures;
        var y = Tensor.Empty(x.Backend, new Shape(dims));
        var node = new LinearOp { _x = x, _weight = weight, _bias = bias, _act = act, _rows = x.Shape.Rows, _in = x.Shape.Last, _out = outFeatures };
        if (y.Shape.Elements > 0)
        {
            // The pre-activation is kept (a tensor on the tape, freed with it) only when this node will be recorded for a
            // backward; otherwise it is scratch returned to the pool at once (inference, or no tape to free it).
            bool recorded = Grad.IsEnabled && Tape.Current is not null
                && (x.RequiresGrad || weight.RequiresGrad || bias is { RequiresGrad: true });
            if (act != Activation.Identity && recorded)
            {
                node._pre = Tensor.Empty(x.Backend, y.Shape);
            }
            using var scratch = act != Activation.Identity && !recorded ? x.Backend.Allocate<float>(y.Shape.Elements) : null;
            x.Backend.LinearForward(x.Data, weight.Data, bias?.Data, node._rows, node._in, outFeatures, act,
                node._pre?.Data ?? scratch, y.Data);
        }
        return Record(node, y, x, weight, bias);
    }

    /// <summary>
    /// ∂x (rows, in) += ∂u·Wᵀ and ∂W (in, out) += xᵀ·∂u for a linear layer's ∂u (rows, out), each written (β = 0) when
    /// it is its tensor's first gradient.
    /// </summary>
    internal static void InputAndWeightGradients(Backend backend, DeviceBuffer<float> du, Tensor x, Tensor weight, int rows, int k, int n)
    {
        if (x.RequiresGrad)
        {
            var dx = x.GradForWrite(out float beta);
            backend.Matmul(du, weight.Data, dx, 1, rows, k, n, false, true, beta: beta);
        }
        if (weight.RequiresGrad)
        {
            var dw = weight.GradForWrite(out float beta);
            backend.Matmul(x.Data, du, dw, 1, k, n, rows, true, false, beta: beta);
        }
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (gradOutput.Shape.Elements == 0)
        {
            return;
        }
        var backend = gradOutput.Backend;
        int rows = _rows, n = _out, k = _in;
        var dbias = _bias is { RequiresGrad: true } ? _bias : null;
        DeviceBuffer<float>? scratch = null;
        try
        {
            DeviceBuffer<float> g;
            if (_act == Activation.Identity)
            {
                g = gradOutput.Data;
                if (dbias is not null)
                {
                    var db = dbias.GradForWrite(out float beta);
                    backend.SumRows(g, rows, n, db, accumulate: beta != 0f);
                }
            }
            else
            {
                // ∂u = ∂y·act′(pre + bias), written into a fresh buffer (no zero fill), and ∂bias += its column sums.
                scratch = backend.Allocate<float>(rows * n);
                backend.BiasActivationBackward(_pre!.Data, _bias?.Data, gradOutput.Data, rows, n, _act, scratch, dbias?.GradData(),
                    writeDx: true);
                g = scratch;
            }
            InputAndWeightGradients(backend, g, _x, _weight, rows, k, n);
        }
        finally
        {
            scratch?.Dispose();
        }
    }
}

/// <summary>
/// The linear layer that closes an adaLN-zero residual branch, y = residual + gate·(x·W + bias): x (B, T, in),
/// W (in, out), bias (out) or null, residual (B, T, out), gate (B, out) per sequence. One forward kernel,
/// <see cref="Backend.LinearGatedResidualForward"/> (the gated residual in the GEMM's epilogue), which keeps
/// u = x·W + bias for the backward. Backward: ∂residual += ∂y, ∂gate += Σ_t ∂y·u, ∂u = gate·∂y, then as
/// <see cref="LinearOp"/>'s identity: ∂x += ∂u·Wᵀ, ∂W += xᵀ·∂u, ∂bias += Σ_rows ∂u. The same values as
/// <see cref="LinearOp"/> followed by <see cref="GatedResidualOp"/>.
/// </summary>
public sealed class GatedLinearOp : Node
{
    private Tensor _residual = null!, _gate = null!, _x = null!, _weight = null!;
    private Tensor? _bias, _u;

    public static Tensor Apply(Tensor residual, Tensor gate, Tensor x, Tensor weight, Tensor? bias)
    {
        const string op = nameof(GatedLinearOp);
        OpCheck.Live(op, residual, gate, x, weight, bias);
        OpCheck.SameBackend(op, x, weight, "x", "weight");
        OpCheck.Rank(op, x, "x", 3);
        if (weight.Shape.Rank != 2 || weight.Shape[0] != x.Shape[2])
        {
            throw new ArgumentException(
                $"{op}: shape mismatch: 'weight' {weight.Shape} must be (in, out) with in = the last axis of 'x' {x.Shape}.", nameof(weight));
        }
        int b = x.Shape[0], t = x.Shape[1], inFeatures = x.Shape[2], outFeatures = weight.Shape[1];
        var outShape = new Shape(b, t, outFeatures);
        OpCheck.SameBackend(op, x, residual, "x", "residual");
        if (residual.Shape != outShape)
        {
            throw new ArgumentException($"{op}: shape mismatch: 'residual' {residual.Shape} must be {outShape} for 'x' {x.Shape} and 'weight' {weight.Shape}.", nameof(residual));
        }
        ModulationCheck.PerSequence(op, residual, "residual", gate, "gate");
        if (bias is not null)
        {
            OpCheck.SameBackend(op, x, bias, "x", "bias");
            if (bias.Shape != new Shape(outFeatures))
            {
                throw new ArgumentException($"{op}: shape mismatch: 'bias' {bias.Shape} must be ({outFeatures}), the weight's output size.", nameof(bias));
            }
        }
        var y = Tensor.Empty(x.Backend, outShape);
        var node = new GatedLinearOp { _residual = residual, _gate = gate, _x = x, _weight = weight, _bias = bias };
        if (outShape.Elements == 0)
        {
            return y;
        }
        // u is kept (a tensor on the tape, freed with it) only when this node will be recorded for a backward.
        bool recorded = Grad.IsEnabled && Tape.Current is not null
            && (residual.RequiresGrad || gate.RequiresGrad || x.RequiresGrad || weight.RequiresGrad || bias is { RequiresGrad: true });
        node._u = recorded ? Tensor.Empty(x.Backend, outShape) : null;
        using var scratch = recorded ? null : x.Backend.Allocate<float>(outShape.Elements);
        x.Backend.LinearGatedResidualForward(x.Data, weight.Data, bias?.Data, residual.Data, gate.Data, b, t, inFeatures, outFeatures,
            node._u?.Data ?? scratch!, y.Data);
        return Record(node, y, residual, gate, x, weight, bias);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        int b = _x.Shape[0], t = _x.Shape[1], k = _x.Shape[2], n = _weight.Shape[1], rows = b * t;
        float resBeta = 1f;
        var dres = _residual.RequiresGrad ? _residual.GradForWrite(out resBeta) : null;
        var dgate = _gate.RequiresGrad ? _gate.GradData() : null;
        bool linear = _x.RequiresGrad || _weight.RequiresGrad || _bias is { RequiresGrad: true };
        // ∂u = gate·∂y written into a fresh buffer (no zero fill), with ∂residual (written when this is its first
        // gradient) and ∂gate in the same pass.
        using var du = linear ? backend.Allocate<float>(rows * n) : null;
        backend.GatedResidualBackward(_gate.Data, _u!.Data, gradOutput.Data, b, t, n, dres, dgate, du,
            writeDresidual: resBeta == 0f, writeDx: true);
        if (du is null)
        {
            return;
        }
        if (_bias is { RequiresGrad: true })
        {
            var db = _bias.GradForWrite(out float beta);
            backend.SumRows(du, rows, n, db, accumulate: beta != 0f);
        }
        LinearOp.InputAndWeightGradients(backend, du, _x, _weight, rows, k, n);
    }
}
