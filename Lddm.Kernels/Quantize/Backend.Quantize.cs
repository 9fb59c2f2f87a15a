using System.Buffers;
using System.Globalization;

namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// Nearest code under cosine similarity, fused with the argmax (Di-LADD's vector quantiser): for each row n of
    /// <paramref name="x"/> (rows, dim) and the codebook (codes, dim), indices[n] = argmax_c cos(x_n, e_c), ties broken by
    /// the lowest c, computed in float64 by <see cref="QuantizeRule"/> (both backends return identical indices). A code
    /// row of norm 0 has similarity 0; a NaN similarity never wins; a row whose similarities are all NaN gets index 0
    /// and max similarity NaN. When <paramref name="maxSimilarity"/> is given it receives cos(x_n, e_{indices[n]}) (0 for a
    /// zero row). Shapes: x (rows, dim); codebook (codes, dim); indices, maxSimilarity (rows). The codebook need not be
    /// normalised. Nothing here carries a gradient: the index cuts the graph.
    /// </summary>
    public void NearestCode(DeviceBuffer<float> x, DeviceBuffer<float> codebook, int rows, int codes, int dim,
        DeviceBuffer<int> indices, DeviceBuffer<float>? maxSimilarity = null)
    {
        const string k = nameof(NearestCode);
        CheckQuantizeShapes(k, x, codebook, rows, codes, dim);
        Check.Buffer(this, indices, rows, k, nameof(indices), $"(rows {rows})");
        if (maxSimilarity is not null)
        {
            Check.Buffer(this, maxSimilarity, rows, k, nameof(maxSimilarity), $"(rows {rows})");
        }
        NearestCodeCore(x, codebook, rows, codes, dim, indices, maxSimilarity);
    }

    /// <summary>
    /// One EMA codebook update with Laplace smoothing (the cosine-similarity codebook of the authors' quantiser), given
    /// the assignments <paramref name="indices"/> of the rows of <paramref name="x"/>: with x̂_n = x_n/‖x_n‖
    /// (<see cref="QuantizeRule.InverseNorm"/>), count_c = #{n : indices[n] = c} and sum_c = Σ_{indices[n] = c} x̂_n,
    /// <list type="number">
    /// <item>clusterSize_c ← decay·clusterSize_c + (1 − decay)·count_c;</item>
    /// <item>embedAvg_c ← decay·embedAvg_c + (1 − decay)·sum_c;</item>
    /// <item>with T = Σ_c clusterSize_c (new values), smoothed_c = (clusterSize_c + ε)/(T + codes·ε)·T;</item>
    /// <item>codebook_c = normalise(embedAvg_c / smoothed_c).</item>
    /// </list>
    /// The scatter-add is deterministic: the rows are bucketed by code on the host (a stable counting sort of the
    /// indices, which are copied back and validated) and each code sums its rows in increasing n, in float64; T is a
    /// float64 sum in code order. So both backends write identical state (on CUDA, ptxas may contract a float64
    /// multiply and add of the EMA into an FMA: the last bit may then differ). Dead codes are the caller's business
    /// (the state is all here). Shapes: x (rows, dim); indices (rows); clusterSize (codes); embedAvg, codebook (codes, dim).
    /// clusterSize and embedAvg are read and written; codebook is fully written.
    /// </summary>
    public void CodebookEmaUpdate(DeviceBuffer<float> x, DeviceBuffer<int> indices, int rows, int codes, int dim,
        double decay, double epsilon, DeviceBuffer<float> clusterSize, DeviceBuffer<float> embedAvg, DeviceBuffer<float> codebook)
    {
        const string k = nameof(CodebookEmaUpdate);
        CheckQuantizeShapes(k, x, codebook, rows, codes, dim);
        Check.Buffer(this, indices, rows, k, nameof(indices), $"(rows {rows})");
        Check.Buffer(this, clusterSize, codes, k, nameof(clusterSize), $"(codes {codes})");
        Check.Buffer(this, embedAvg, (long)codes * dim, k, nameof(embedAvg), $"(codes {codes}, dim {dim})");
        if (!(decay >= 0 && decay < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(decay), decay,
                $"{k}: 'decay' must be in [0, 1) but was {decay.ToString("R", CultureInfo.InvariantCulture)}.");
        }
        if (!(epsilon > 0) || !double.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon,
                $"{k}: 'epsilon' must be positive and finite but was {epsilon.ToString("R", CultureInfo.InvariantCulture)}.");
        }
        var (order, offsets) = BucketByCode(k, indices, rows, codes);
        using var dorder = Upload<int>(order);
        using var doffsets = Upload<int>(offsets);
        CodebookEmaUpdateCore(x, dorder, doffsets, rows, codes, dim, decay, 1 - decay, epsilon, clusterSize, embedAvg, codebook);
    }

    /// <summary>
    /// A stable counting sort of the code indices: rows of code c are order[offsets[c] .. offsets[c + 1]) in increasing
    /// row. Throws <see cref="ArgumentOutOfRangeException"/> naming the first row whose index is not in [0, codes).
    /// </summary>
    internal static (int[] Order, int[] Offsets) BucketByCode(string kernel, DeviceBuffer<int> indices, int rows, int codes)
    {
        var ids = ArrayPool<int>.Shared.Rent(rows);
        try
        {
            indices.CopyTo(ids.AsSpan(0, rows));
            var offsets = new int[codes + 1];
            for (int n = 0; n < rows; n++)
            {
                if ((uint)ids[n] >= (uint)codes)
                {
                    throw new ArgumentOutOfRangeException(nameof(indices), ids[n],
                        $"{kernel}: indices[{n}] = {ids[n]} is not a code in [0, {codes}).");
                }
                offsets[ids[n] + 1]++;
            }
            for (int c = 0; c < codes; c++)
            {
                offsets[c + 1] += offsets[c];
            }
            var next = offsets[..codes];
            var order = new int[rows];
            for (int n = 0; n < rows; n++)
            {
                order[next[ids[n]]++] = n;
            }
            return (order, offsets);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(ids);
        }
    }

    /// <summary>Backend part of <see cref="NearestCode"/>: arguments are valid.</summary>
    protected abstract void NearestCodeCore(DeviceBuffer<float> x, DeviceBuffer<float> codebook, int rows, int codes, int dim,
        DeviceBuffer<int> indices, DeviceBuffer<float>? maxSimilarity);

    /// <summary>
    /// Backend part of <see cref="CodebookEmaUpdate"/>: arguments are valid; rows of code c are
    /// order[offsets[c] .. offsets[c + 1]); <paramref name="oneMinusDecay"/> is 1 − decay computed once on the host.
    /// </summary>
    protected abstract void CodebookEmaUpdateCore(DeviceBuffer<float> x, DeviceBuffer<int> order, DeviceBuffer<int> offsets,
        int rows, int codes, int dim, double decay, double oneMinusDecay, double epsilon, DeviceBuffer<float> clusterSize,
        DeviceBuffer<float> embedAvg, DeviceBuffer<float> codebook);

    private void CheckQuantizeShapes(string k, DeviceBuffer<float> x, DeviceBuffer<float> codebook, int rows, int codes, int dim)
    {
        Check.Positive(rows, k, nameof(rows));
        Check.Positive(codes, k, nameof(codes));
        Check.Positive(dim, k, nameof(dim));
        Check.Buffer(this, x, Check.Elements(k, rows, dim), k, nameof(x), $"(rows {rows}, dim {dim})");
        Check.Buffer(this, codebook, Check.Elements(k, codes, dim), k, nameof(codebook), $"(codes {codes}, dim {dim})");
    }
}
