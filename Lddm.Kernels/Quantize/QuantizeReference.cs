namespace Lddm.Kernels.Reference;

/// <summary>Slow, obviously correct float64 nearest code under cosine similarity and EMA codebook update.</summary>
public static class QuantizeReference
{
    /// <summary>v / max(‖v‖, 1e-12) in float64.</summary>
    public static double[] Normalise(ReadOnlySpan<float> v)
    {
        double s = 0;
        foreach (float a in v)
        {
            s += (double)a * a;
        }
        double norm = Math.Max(Math.Sqrt(s), QuantizeRule.NormFloor);
        var y = new double[v.Length];
        for (int j = 0; j < v.Length; j++)
        {
            y[j] = v[j] / norm;
        }
        return y;
    }

    /// <summary>
    /// Brute force: every cosine similarity, the best (lowest index on ties), its similarity, and the gap to the best
    /// similarity of any other code (how far the row is from a tie; +∞ with one code).
    /// </summary>
    public static (int[] Indices, double[] MaxSimilarity, double[] Gap) NearestCode(ReadOnlySpan<float> x, ReadOnlySpan<float> codebook,
        int rows, int codes, int dim)
    {
        var e = new double[codes][];
        for (int c = 0; c < codes; c++)
        {
            e[c] = Normalise(codebook.Slice(c * dim, dim));
        }
        var indices = new int[rows];
        var sims = new double[rows];
        var gaps = new double[rows];
        for (int n = 0; n < rows; n++)
        {
            var xn = Normalise(x.Slice(n * dim, dim));
            var s = new double[codes];
            int best = 0;
            for (int c = 0; c < codes; c++)
            {
                for (int j = 0; j < dim; j++)
                {
                    s[c] += xn[j] * e[c][j];
                }
                if (s[c] > s[best])
                {
                    best = c;
                }
            }
            double second = double.NegativeInfinity;
            for (int c = 0; c < codes; c++)
            {
                if (c != best)
                {
                    second = Math.Max(second, s[c]);
                }
            }
            indices[n] = best;
            sims[n] = s[best];
            gaps[n] = s[best] - second;
        }
        return (indices, sims, gaps);
    }

    /// <summary>The EMA update with Laplace smoothing of <see cref="Backend.CodebookEmaUpdate"/>, in float64.</summary>
    public static (double[] ClusterSize, double[] EmbedAvg, double[] Codebook) EmaUpdate(ReadOnlySpan<float> x, ReadOnlySpan<int> indices,
        int rows, int codes, int dim, double decay, double epsilon, ReadOnlySpan<float> clusterSize, ReadOnlySpan<float> embedAvg)
    {
        var counts = new double[codes];
        var sums = new double[codes * dim];
        for (int n = 0; n < rows; n++)
        {
            var xn = Normalise(x.Slice(n * dim, dim));
            int c = indices[n];
            counts[c]++;
            for (int j = 0; j < dim; j++)
            {
                sums[c * dim + j] += xn[j];
            }
        }
        var cs = new double[codes];
        var ea = new double[codes * dim];
        double total = 0;
        for (int c = 0; c < codes; c++)
        {
            cs[c] = decay * clusterSize[c] + (1 - decay) * counts[c];
            total += cs[c];
            for (int j = 0; j < dim; j++)
            {
                ea[c * dim + j] = decay * embedAvg[c * dim + j] + (1 - decay) * sums[c * dim + j];
            }
        }
        var cb = new double[codes * dim];
        for (int c = 0; c < codes; c++)
        {
            double smoothed = (cs[c] + epsilon) / (total + codes * epsilon) * total;
            double s = 0;
            for (int j = 0; j < dim; j++)
            {
                double v = ea[c * dim + j] / smoothed;
                s += v * v;
            }
            double norm = Math.Max(Math.Sqrt(s), QuantizeRule.NormFloor);
            for (int j = 0; j < dim; j++)
            {
                cb[c * dim + j] = ea[c * dim + j] / smoothed / norm;
            }
        }
        return (cs, ea, cb);
    }
}
