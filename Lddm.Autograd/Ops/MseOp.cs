using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// Weighted mean squared error L = (1/n)·Σ_{r,c} w_r·(p[r,c] − q[r,c])² over all n elements of the
/// prediction p viewed as (rows, C) along its last axis, with one weight per row (w = 1 when null), as a
/// tensor of shape (1). ∂p = −∂q = (2/n)·∂L·w_r·(p − q); ∂w_r = (1/n)·∂L·Σ_c (p − q)²[r, c].
/// Everything stays on the device.
/// </summary>
public sealed class MseOp : Node
{
    private Tensor _prediction = null!, _target = null!, _diff = null!;
    private Tensor? _weights, _rowSums;

    public static Tensor Apply(Tensor prediction, Tensor target, Tensor? rowWeights = null)
    {
        const string op = nameof(MseOp);
        OpCheck.SameShape(op, prediction, target, "prediction", "target");
        if (prediction.Shape.Elements == 0)
        {
            throw new ArgumentException($"{op}: 'prediction' has shape {prediction.Shape} with no elements; the mean is undefined.", nameof(prediction));
        }
        if (rowWeights is not null)
        {
            CheckWeights(prediction, rowWeights);
        }
        var backend = prediction.Backend;
        var diff = Tensor.Empty(backend, prediction.Shape);
        backend.Axpby(1f, prediction.Data, 0f, diff.Data);
        backend.Axpby(-1f, target.Data, 1f, diff.Data);
        var loss = Tensor.Empty(backend, new Shape(1));
        var rowSums = Reduce(diff, rowWeights, loss);
        var node = new MseOp { _prediction = prediction, _target = target, _weights = rowWeights, _diff = diff, _rowSums = rowSums };
        Record(node, loss, prediction, target, rowWeights);
        if (!ReferenceEquals(loss.Creator, node))
        {
            // Not recorded: nothing will read the saved difference and row sums.
            diff.Dispose();
            rowSums?.Dispose();
        }
        return loss;
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        int n = _diff.Shape.Elements;
        using var scaled = backend.Allocate<float>(1);
        if (_prediction.RequiresGrad || _target.RequiresGrad)
        {
            backend.Axpby(2f / n, gradOutput.Data, 0f, scaled);
            using var dp = backend.Allocate<float>(n);
            if (_weights is null)
            {
                backend.Mul(_diff.Data, scaled, dp);
            }
            else
            {
                WeightRows(_weights, scaled, _diff, dp);
            }
            if (_prediction.RequiresGrad)
            {
                backend.Axpby(1f, dp, 1f, _prediction.GradData());
            }
            if (_target.RequiresGrad)
            {
                backend.Axpby(-1f, dp, 1f, _target.GradData());
            }
        }
        if (_weights is { RequiresGrad: true })
        {
            backend.Axpby(1f / n, gradOutput.Data, 0f, scaled);
            using var dw = backend.Allocate<float>(_rowSums!.Shape.Elements);
            backend.Mul(_rowSums.Data, scaled, dw);
            backend.Axpby(1f, dw, 1f, _weights.GradData());
        }
    }

    /// <summary>dst[r, c] = scale[0]·w[r]·diff[r, c], a row broadcast done by the gated-residual kernel (hidden 1).</summary>
    private static void WeightRows(Tensor weights, DeviceBuffer<float> scale, Tensor diff, DeviceBuffer<float> dst)
    {
        var backend = diff.Backend;
        int rows = diff.Shape.Rows, cols = diff.Shape.Last;
        using var gate = backend.Allocate<float>(rows);
        backend.Mul(weights.Data, scale, gate);
        dst.Fill(0f);
        backend.GatedResidualForward(dst, gate, diff.Data, rows, cols, 1, dst);
    }

    /// <summary>loss = (1/n)·Σ w_r·diff²; returns the per-row Σ_c diff² that ∂w needs (null without weights).</summary>
    private static Tensor? Reduce(Tensor diff, Tensor? rowWeights, Tensor loss)
    {
        var backend = diff.Backend;
        int n = diff.Shape.Elements, rows = diff.Shape.Rows, cols = diff.Shape.Last;
        using var squares = backend.Allocate<float>(n);
        backend.Mul(diff.Data, diff.Data, squares);
        if (rowWeights is null)
        {
            backend.Sum(squares, loss.Data, 1f / n);
            return null;
        }
        var rowSums = Tensor.Empty(backend, new Shape(rows));
        backend.SumCols(squares, rows, cols, rowSums.Data, accumulate: false);
        using var weighted = backend.Allocate<float>(rows);
        backend.Mul(rowSums.Data, rowWeights.Data, weighted);
        backend.Sum(weighted, loss.Data, 1f / n);
        return rowSums;
    }

    private static void CheckWeights(Tensor prediction, Tensor w)
    {
        const string op = nameof(MseOp);
        OpCheck.Live(op, w);
        OpCheck.SameBackend(op, prediction, w, "prediction", "rowWeights");
        var p = prediction.Shape;
        bool leading = w.Shape.Rank == p.Rank - 1;
        for (int i = 0; leading && i < w.Shape.Rank; i++)
        {
            leading = w.Shape[i] == p[i];
        }
        if (!leading && w.Shape != new Shape(p.Rows))
        {
            throw new ArgumentException(
                $"{op}: shape mismatch: 'rowWeights' {w.Shape} must hold one weight per row of 'prediction' {p}: ({p.Rows}) or its leading dimensions.");
        }
    }
}
