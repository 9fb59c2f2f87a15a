namespace Lddm.Kernels.Reference;

/// <summary>Slow, obviously correct float64 SUBS cross-entropy (MDLM): MASK id K = vocab − 1 is excluded.</summary>
public static class CrossEntropyReference
{
    /// <summary>loss[r] = −w[r]·log softmax over the K real logits at targets[r] for masked rows, 0 for carry-over rows.</summary>
    public static double[] SubsForward(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, ReadOnlySpan<int> noisy,
        ReadOnlySpan<float> weights, int rows, int vocab)
    {
        int k = vocab - 1;
        var loss = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            if (noisy[r] == k)
            {
                var logp = SoftmaxReference.LogSoftmaxRow(logits.Slice(r * vocab, k));
                loss[r] = -weights[r] * logp[targets[r]];
            }
        }
        return loss;
    }

    /// <summary>dlogits + dloss·w·(p − onehot) on the real columns of masked rows; everything else unchanged.</summary>
    public static double[] SubsBackward(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, ReadOnlySpan<int> noisy,
        ReadOnlySpan<float> weights, ReadOnlySpan<float> dloss, ReadOnlySpan<float> dlogits, int rows, int vocab)
    {
        int k = vocab - 1;
        var result = new double[rows * vocab];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = dlogits[i];
        }
        for (int r = 0; r < rows; r++)
        {
            if (noisy[r] != k)
            {
                continue;
            }
            var logp = SoftmaxReference.LogSoftmaxRow(logits.Slice(r * vocab, k));
            double g = (double)dloss[r] * weights[r];
            for (int j = 0; j < k; j++)
            {
                result[r * vocab + j] += g * (Math.Exp(logp[j]) - (j == targets[r] ? 1 : 0));
            }
        }
        return result;
    }
}
