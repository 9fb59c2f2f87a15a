namespace Lddm.Autograd;

/// <summary>
/// Per-row SUBS cross-entropy of masked diffusion (see <c>Backend.SubsCrossEntropyForward</c>): logits (…, V)
/// with V = K + 1 (K real tokens plus MASK = K); targets, noisy and weights (…) — the logits' shape without its
/// last axis, e.g. (N) for (N, V) or (B, L) for (B, L, V). For a masked row (noisy = K)
/// loss = −w·log softmax_real(logits)[target]; carry-over rows (noisy ≠ K) give exactly 0.
/// ∂logits += ∂loss·w·(softmax_real − onehot(target)) on masked rows (0 in the MASK column).
/// The per-row weights (the schedule's −α′/(1−α), a data-dependent constant) are NOT differentiable: no gradient
/// flows to them, and a weights tensor that requires a gradient is rejected rather than silently given none.
/// </summary>
public sealed class SubsCrossEntropyOp : Node
{
    private Tensor _logits = null!, _weights = null!;
    private IntTensor _targets = null!, _noisy = null!;

    public static Tensor Apply(Tensor logits, IntTensor targets, IntTensor noisy, Tensor weights)
    {
        const string op = nameof(SubsCrossEntropyOp);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(noisy);
        OpCheck.Live(op, logits, weights);
        targets.ThrowIfDisposed(op);
        noisy.ThrowIfDisposed(op);
        OpCheck.SameBackend(op, logits, weights, "logits", "weights");
        if (!ReferenceEquals(targets.Backend, logits.Backend) || !ReferenceEquals(noisy.Backend, logits.Backend))
        {
            throw new ArgumentException($"{op}: 'targets' ({targets.Backend.Name}) and 'noisy' ({noisy.Backend.Name}) must be on the logits' backend {logits.Backend.Name}.");
        }
        if (logits.Shape.Rank < 2)
        {
            throw new ArgumentException($"{op}: 'logits' must be (…, V) with at least one row axis but has shape {logits.Shape}.");
        }
        var rowShape = new Shape(logits.Shape.ToArray()[..^1]);
        if (targets.Shape != rowShape || noisy.Shape != rowShape || weights.Shape != rowShape)
        {
            throw new ArgumentException(
                $"{op}: shape mismatch: 'logits' {logits.Shape} needs targets, noisy and weights of shape {rowShape} " +
                $"but got targets {targets.Shape}, noisy {noisy.Shape}, weights {weights.Shape}.");
        }
        if (weights.RequiresGrad)
        {
            throw new ArgumentException($"{op}: 'weights' {weights.Shape} requires a gradient, but the per-row weights are not differentiable.");
        }
        var loss = Tensor.Empty(logits.Backend, rowShape);
        int rows = rowShape.Elements, vocab = logits.Shape.Last;
        if (rows > 0)
        {
            // Ids the host checked before uploading them (targets in [0, K), noisy in [0, K]) are not copied back.
            bool checkedIds = targets.CheckedBound <= vocab - 1 && noisy.CheckedBound <= vocab;
            logits.Backend.SubsCrossEntropyForward(logits.Data, targets.Data, noisy.Data, weights.Data, rows, vocab,
                loss.Data, idsValidated: checkedIds);
        }
        return Record(new SubsCrossEntropyOp { _logits = logits, _targets = targets, _noisy = noisy, _weights = weights }, loss, logits);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        int rows = gradOutput.Shape.Elements;
        if (_logits.RequiresGrad && rows > 0)
        {
            // The forward validated these very id buffers, or the host had (ops never write an IntTensor they read):
            // no second host copy.
            _logits.Backend.SubsCrossEntropyBackward(_logits.Data, _targets.Data, _noisy.Data, _weights.Data, gradOutput.Data,
                rows, _logits.Shape.Last, _logits.GradData(), idsValidated: true);
        }
    }
}
