using System.Globalization;

namespace Lddm.Autograd;

/// <summary>
/// LayerNorm over the last axis: y = (x − μ)·rstd·γ + β for x (…, C), γ and β (C) each optional.
/// The forward's per-row mean and rstd are saved as tensors for the backward.
/// </summary>
public sealed class LayerNormOp : Node
{
    private Tensor _x = null!, _mean = null!, _rstd = null!;
    private Tensor? _gamma, _beta;

    public static Tensor Apply(Tensor x, Tensor? gamma, Tensor? beta, float epsilon = 1e-5f)
    {
        const string op = nameof(LayerNormOp);
        OpCheck.Live(op, x, gamma, beta);
        if (x.Shape.Rank == 0 || x.Shape.Elements == 0)
        {
            throw new ArgumentException($"{op}: 'x' must be non-empty with at least one axis but has shape {x.Shape}.", nameof(x));
        }
        if (!(epsilon > 0) || !float.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon,
                $"{op}: 'epsilon' must be positive and finite but was {epsilon.ToString(CultureInfo.InvariantCulture)}.");
        }
        CheckAffine(x, gamma, "gamma");
        CheckAffine(x, beta, "beta");
        var backend = x.Backend;
        int rows = x.Shape.Rows, cols = x.Shape.Last;
        var y = Tensor.Empty(backend, x.Shape);
        var mean = Tensor.Empty(backend, new Shape(rows));
        var rstd = Tensor.Empty(backend, new Shape(rows));
        backend.LayerNormForward(x.Data, gamma?.Data, beta?.Data, rows, cols, epsilon, y.Data, mean.Data, rstd.Data);
        var node = new LayerNormOp { _x = x, _gamma = gamma, _beta = beta, _mean = mean, _rstd = rstd };
        Record(node, y, x, gamma, beta);
        if (!ReferenceEquals(y.Creator, node))
        {
            // Not recorded (no tape, Grad.Off or no input needs a gradient): nothing will read the statistics.
            mean.Dispose();
            rstd.Dispose();
        }
        return y;
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        int rows = _x.Shape.Rows, cols = _x.Shape.Last;
        var dgamma = _gamma is { RequiresGrad: true } ? _gamma.GradData() : null;
        var dbeta = _beta is { RequiresGrad: true } ? _beta.GradData() : null;
        if (_x.RequiresGrad)
        {
            backend.LayerNormBackward(_x.Data, _gamma?.Data, _mean.Data, _rstd.Data, gradOutput.Data, rows, cols,
                _x.GradData(), dgamma, dbeta);
            return;
        }
        // The kernel always writes dx; only γ/β want gradients here, so dx goes to scratch.
        using var scratch = backend.Allocate<float>(_x.Shape.Elements);
        scratch.Fill(0f);
        backend.LayerNormBackward(_x.Data, _gamma?.Data, _mean.Data, _rstd.Data, gradOutput.Data, rows, cols,
            scratch, dgamma, dbeta);
    }

    private static void CheckAffine(Tensor x, Tensor? p, string name)
    {
        if (p is null)
        {
            return;
        }
        OpCheck.SameBackend(nameof(LayerNormOp), x, p, "x", name);
        if (p.Shape != new Shape(x.Shape.Last))
        {
            throw new ArgumentException(
                $"{nameof(LayerNormOp)}: shape mismatch: '{name}' {p.Shape} must be ({x.Shape.Last}), the last axis of 'x' {x.Shape}.", name);
        }
    }
}
