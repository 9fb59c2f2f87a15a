namespace Lddm.Kernels.Reference;

/// <summary>
/// Float64 reference of <see cref="Backend.UnmaskStep"/>, written the long way: the row's weights and the whole
/// categorical q over [real tokens in id order, MASK] are materialised as arrays, then searched linearly with the
/// same uniform. The cumulative sums use the canonical association of <see cref="UnmaskRule"/> (chunked), which is
/// what makes its tokens identical to the kernels' rather than equal only with probability 1 − O(K·2⁻⁵³).
/// </summary>
public static class UnmaskReference
{
    /// <summary>
    /// x_s for every row (x_t = <paramref name="tokens"/>, which is not modified); a row with keep[r] ≠ 0 is copied as
    /// it is (<paramref name="keep"/> optional).
    /// </summary>
    public static int[] Step(float[] logits, int[] tokens, int rows, int vocab, double alphaT, double alphaS,
        float temperature, ulong seed, ulong stream, long offset, UnmaskMode mode, int[]? keep = null)
    {
        int k = vocab - 1;
        double a = UnmaskRule.UnmaskProbability(alphaT, alphaS, mode);
        var result = (int[])tokens.Clone();
        for (int r = 0; r < rows; r++)
        {
            if (tokens[r] != k || keep is not null && keep[r] != 0)
            {
                continue;
            }
            var row = logits.AsSpan(r * vocab, k);
            if (mode == UnmaskMode.Argmax)
            {
                result[r] = Argmax(row);
                continue;
            }
            double u = Philox.UniformDouble(seed, stream, offset + r);
            result[r] = u >= a ? k : Draw(Cdf(row, UnmaskRule.InverseTemperature(temperature)), u, a, mode == UnmaskMode.Fill);
        }
        return result;
    }

    /// <summary>p = softmax(row / τ) over the K real logits, float64 (all −∞ → uniform).</summary>
    public static double[] Probabilities(ReadOnlySpan<float> row, double temperature)
    {
        double max = double.NegativeInfinity;
        foreach (float x in row)
        {
            max = Math.Max(max, x);
        }
        var p = new double[row.Length];
        double z = 0;
        for (int j = 0; j < row.Length; j++)
        {
            p[j] = double.IsNegativeInfinity(max) ? 1 : Math.Exp((row[j] - max) / temperature);
            z += p[j];
        }
        for (int j = 0; j < row.Length; j++)
        {
            p[j] /= z;
        }
        return p;
    }

    /// <summary>Lowest j with the largest real logit.</summary>
    public static int Argmax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int j = 1; j < row.Length; j++)
        {
            if (row[j] > row[best])
            {
                best = j;
            }
        }
        return best;
    }

    /// <summary>Unnormalised CDF of exp((l_j − max)·(1/τ)) in the chunked association; the last entry is Z.</summary>
    private static double[] Cdf(ReadOnlySpan<float> row, double inverseTemperature)
    {
        int k = row.Length, chunk = UnmaskRule.ChunkSize(k);
        float max = float.NegativeInfinity;
        foreach (float x in row)
        {
            max = UnmaskRule.Max(max, x);
        }
        var cdf = new double[k];
        double prefix = 0;
        for (int begin = 0; begin < k; begin += chunk)
        {
            double inner = 0;
            for (int j = begin; j < Math.Min(k, begin + chunk); j++)
            {
                inner += UnmaskRule.Weight(row[j], max, inverseTemperature);
                cdf[j] = prefix + inner;
            }
            prefix += inner;
        }
        return cdf;
    }

    /// <summary>Posterior: u ≥ a was MASK already; the first j with CDF_j &gt; (u/a)·Z, else MASK. Fill: capped at Z.</summary>
    private static int Draw(double[] cdf, double u, double a, bool fill)
    {
        double z = cdf[^1];
        double t = UnmaskRule.Threshold(u, a, z), cap = UnmaskRule.Cap(fill, z);
        for (int j = 0; j < cdf.Length; j++)
        {
            if (UnmaskRule.Hit(cdf[j], t, cap))
            {
                return j;
            }
        }
        return fill ? cdf.Length - 1 : cdf.Length;
    }
}
