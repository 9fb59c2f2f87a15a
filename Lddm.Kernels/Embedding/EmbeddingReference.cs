namespace Lddm.Kernels.Reference;

/// <summary>Slow, obviously correct float64 embedding gather and scatter-add.</summary>
public static class EmbeddingReference
{
    public static double[] Forward(ReadOnlySpan<int> ids, ReadOnlySpan<float> table, int dim)
    {
        var y = new double[ids.Length * dim];
        for (int i = 0; i < ids.Length; i++)
        {
            for (int d = 0; d < dim; d++)
            {
                y[i * dim + d] = table[ids[i] * dim + d];
            }
        }
        return y;
    }

    /// <summary>dtable + Σ_i onehot(ids[i]) ⊗ dy[i].</summary>
    public static double[] Backward(ReadOnlySpan<int> ids, ReadOnlySpan<float> dy, ReadOnlySpan<float> dtable, int dim)
    {
        var result = new double[dtable.Length];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = dtable[i];
        }
        for (int i = 0; i < ids.Length; i++)
        {
            for (int d = 0; d < dim; d++)
            {
                result[ids[i] * dim + d] += dy[i * dim + d];
            }
        }
        return result;
    }
}
