using System.Buffers;

namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// SUBS cross-entropy of masked diffusion (MDLM): a vocabulary of K real tokens plus MASK with id K, so
    /// <paramref name="logits"/> has V = K + 1 columns (<paramref name="vocab"/> = V ≥ 2). For a masked row
    /// (noisy[r] == K): loss[r] = −w[r]·log softmax_real(logits[r])[targets[r]], where the softmax runs over
    /// the K real columns only (the MASK logit is treated as −∞: SUBS "zero masking probability"; its value,
    /// even NaN, is never read). For a carry-over row (noisy[r] ≠ K, already unmasked) loss[r] = 0 exactly.
    /// Real logits all −∞ give the uniform distribution (loss w·log K), as in <see cref="SoftmaxForward"/>.
    /// Shapes: logits (rows, V); targets, noisy, weights, loss (rows). Nothing is saved: the backward recomputes.
    /// Token ids are validated on the host (targets in [0, K), noisy in [0, K]): the call copies both id
    /// buffers back (rows ints each) and throws <see cref="ArgumentOutOfRangeException"/> naming the row and value.
    /// </summary>
    public void SubsCrossEntropyForward(DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<int> noisy,
        DeviceBuffer<float> weights, int rows, int vocab, DeviceBuffer<float> loss) =>
        SubsCrossEntropyForward(logits, targets, noisy, weights, rows, vocab, loss, idsValidated: false);

    /// <summary>
    /// <see cref="SubsCrossEntropyForward(DeviceBuffer{float}, DeviceBuffer{int}, DeviceBuffer{int}, DeviceBuffer{float}, int, int, DeviceBuffer{float})"/>,
    /// with <paramref name="idsValidated"/> true when the caller has already checked on the host the very ids it
    /// uploaded into <paramref name="targets"/> (in [0, K)) and <paramref name="noisy"/> (in [0, K]): they are then
    /// not copied back — on a GPU that copy is a synchronisation. Shapes are checked either way.
    /// </summary>
    public void SubsCrossEntropyForward(DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<int> noisy,
        DeviceBuffer<float> weights, int rows, int vocab, DeviceBuffer<float> loss, bool idsValidated)
    {
        const string k = nameof(SubsCrossEntropyForward);
        CheckSubs(k, logits, targets, noisy, weights, rows, vocab, checkIds: !idsValidated);
        Check.Buffer(this, loss, rows, k, nameof(loss), $"(rows {rows})");
        SubsCrossEntropyForwardCore(logits, targets, noisy, weights, rows, vocab, loss);
    }

    /// <summary>
    /// Gradient of <see cref="SubsCrossEntropyForward(DeviceBuffer{float}, DeviceBuffer{int}, DeviceBuffer{int}, DeviceBuffer{float}, int, int, DeviceBuffer{float})"/>: for masked rows
    /// dlogits[r, j] += dloss[r]·w[r]·(softmax_real(logits[r])[j] − 1[j == targets[r]]) for j &lt; K, and
    /// dlogits[r, K] += 0; carry-over rows add nothing. Shapes: logits, dlogits (rows, V); targets, noisy, weights,
    /// dloss (rows). Accumulates into <paramref name="dlogits"/>. Ids are validated as in the forward.
    /// </summary>
    public void SubsCrossEntropyBackward(DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<int> noisy,
        DeviceBuffer<float> weights, DeviceBuffer<float> dloss, int rows, int vocab, DeviceBuffer<float> dlogits) =>
        SubsCrossEntropyBackward(logits, targets, noisy, weights, dloss, rows, vocab, dlogits, idsValidated: false);

    /// <summary>
    /// <see cref="SubsCrossEntropyBackward(DeviceBuffer{float}, DeviceBuffer{int}, DeviceBuffer{int}, DeviceBuffer{float}, DeviceBuffer{float}, int, int, DeviceBuffer{float})"/>,
    /// with <paramref name="idsValidated"/> true when <paramref name="targets"/> and <paramref name="noisy"/> are the
    /// very buffers a <see cref="SubsCrossEntropyForward(DeviceBuffer{float}, DeviceBuffer{int}, DeviceBuffer{int}, DeviceBuffer{float}, int, int, DeviceBuffer{float})"/> call already validated, unchanged since (the autograd op's
    /// backward): the ids are then not copied back to the host again — on a GPU that copy is a synchronisation.
    /// Shapes are checked either way.
    /// </summary>
    public void SubsCrossEntropyBackward(DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<int> noisy,
        DeviceBuffer<float> weights, DeviceBuffer<float> dloss, int rows, int vocab, DeviceBuffer<float> dlogits,
        bool idsValidated)
    {
        const string k = nameof(SubsCrossEntropyBackward);
        CheckSubs(k, logits, targets, noisy, weights, rows, vocab, checkIds: !idsValidated);
        Check.Buffer(this, dloss, rows, k, nameof(dloss), $"(rows {rows})");
        Check.Buffer(this, dlogits, logits.Length, k, nameof(dlogits), $"(rows {rows}, vocab {vocab})");
        SubsCrossEntropyBackwardCore(logits, targets, noisy, weights, dloss, rows, vocab, dlogits);
    }

    protected abstract void SubsCrossEntropyForwardCore(DeviceBuffer<float> logits, DeviceBuffer<int> targets,
        DeviceBuffer<int> noisy, DeviceBuffer<float> weights, int rows, int vocab, DeviceBuffer<float> loss);

    protected abstract void SubsCrossEntropyBackwardCore(DeviceBuffer<float> logits, DeviceBuffer<int> targets,
        DeviceBuffer<int> noisy, DeviceBuffer<float> weights, DeviceBuffer<float> dloss, int rows, int vocab,
        DeviceBuffer<float> dlogits);

    private void CheckSubs(string k, DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<int> noisy,
        DeviceBuffer<float> weights, int rows, int vocab, bool checkIds = true)
    {
        Check.Positive(rows, k, nameof(rows));
        if (vocab < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(vocab), vocab,
                $"{k}: 'vocab' is V = K + 1 (K real tokens plus MASK) and must be at least 2 but was {vocab}.");
        }
        int n = Check.Elements(k, rows, vocab);
        Check.Buffer(this, logits, n, k, nameof(logits), $"(rows {rows}, vocab {vocab})");
        Check.Buffer(this, targets, rows, k, nameof(targets), $"(rows {rows})");
        Check.Buffer(this, noisy, rows, k, nameof(noisy), $"(rows {rows})");
        Check.Buffer(this, weights, rows, k, nameof(weights), $"(rows {rows})");
        if (!checkIds)
        {
            return;
        }
        int mask = vocab - 1;
        // Ids are small: copy them back through pooled arrays (no per-call garbage) and check every row.
        var t = ArrayPool<int>.Shared.Rent(rows);
        var z = ArrayPool<int>.Shared.Rent(rows);
        try
        {
            targets.CopyTo(t.AsSpan(0, rows));
            noisy.CopyTo(z.AsSpan(0, rows));
            for (int r = 0; r < rows; r++)
            {
                if ((uint)t[r] >= (uint)mask)
                {
                    throw new ArgumentOutOfRangeException(nameof(targets), t[r],
                        $"{k}: targets[{r}] = {t[r]} is not a real token id in [0, {mask}) (vocab {vocab}, MASK = {mask}).");
                }
                if ((uint)z[r] > (uint)mask)
                {
                    throw new ArgumentOutOfRangeException(nameof(noisy), z[r],
                        $"{k}: noisy[{r}] = {z[r]} is not a token id in [0, {mask}] (vocab {vocab}, MASK = {mask}).");
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(t);
            ArrayPool<int>.Shared.Return(z);
        }
    }
}
