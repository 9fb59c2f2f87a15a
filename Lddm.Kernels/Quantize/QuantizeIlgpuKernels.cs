using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Scalars of the EMA codebook update.</summary>
internal readonly struct EmaParams(int codes, int dim, double decay, double oneMinusDecay, double epsilon)
{
    public readonly int Codes = codes, Dim = dim;
    public readonly double Decay = decay, OneMinusDecay = oneMinusDecay, Epsilon = epsilon;
}

/// <summary>
/// The vector-quantiser kernels, in the canonical float64 arithmetic of <see cref="QuantizeRule"/>:
/// <see cref="InverseNorms"/> (one thread per vector), <see cref="Nearest"/> (one group of
/// <see cref="QuantizeRule.Lanes"/> threads per row, codes strided over the threads, each thread's best kept with the
/// lowest-id tie-break and the group's bests folded through shared memory; <see cref="QuantizeRule.Beats"/> is a
/// total order, so the fold order does not matter), and the EMA update: <see cref="EmaAccumulate"/> (one thread per
/// codebook entry summing its code's rows in bucket order), <see cref="EmaTotal"/> (one thread, codes in order) and
/// <see cref="EmaNormalise"/> (one thread per code).
/// </summary>
internal static class QuantizeIlgpuKernels
{
    /// <summary>inverse[i] = 1 / max(‖v_i‖, floor) for the rows of v (rows, dim).</summary>
    [GpuKernel]
    public static void InverseNorms(Index1D i, ArrayView<float> v, ArrayView<double> inverse, int dim)
    {
        long o = (long)(int)i * dim;
        double s = 0;
        for (int j = 0; j < dim; j++)
        {
            double a = v[o + j];
            s += a * a;
        }
        inverse[i] = QuantizeRule.InverseNorm(XMath.Sqrt(s));
    }

    /// <summary>indices[n] = argmax_c dot(x_n, e_c)·inv‖e_c‖ (lowest c on ties); maxSim[n] = that·inv‖x_n‖ when writeSim.</summary>
    [GpuKernel(Hot = true)]
    public static void Nearest(ArrayView<float> x, ArrayView<float> codebook, ArrayView<double> codeInverse,
        ArrayView<int> indices, ArrayView<float> maxSim, int codes, int dim, int writeSim)
    {
        var keys = SharedMemory.Allocate<double>(QuantizeRule.Lanes);
        var ids = SharedMemory.Allocate<int>(QuantizeRule.Lanes);
        int row = Grid.IdxX, lane = Group.IdxX;
        long xo = (long)row * dim;
        double best = double.NegativeInfinity;
        int bestId = -1;
        for (int c = lane; c < codes; c += QuantizeRule.Lanes)
        {
            long co = (long)c * dim;
            double dot = 0;
            for (int j = 0; j < dim; j++)
            {
                dot += (double)x[xo + j] * codebook[co + j];
            }
            double key = dot * codeInverse[c];
            if (QuantizeRule.Beats(key, c, best, bestId))
            {
                best = key;
                bestId = c;
            }
        }
        keys[lane] = best;
        ids[lane] = bestId;
        Group.Barrier();
        for (int s = QuantizeRule.Lanes / 2; s > 0; s >>= 1)
        {
            if (lane < s && QuantizeRule.Beats(keys[lane + s], ids[lane + s], keys[lane], ids[lane]))
            {
                keys[lane] = keys[lane + s];
                ids[lane] = ids[lane + s];
            }
            Group.Barrier();
        }
        if (lane == 0)
        {
            int id = ids[0];
            indices[row] = id < 0 ? 0 : id;
            if (writeSim != 0)
            {
                double sq = 0;
                for (int j = 0; j < dim; j++)
                {
                    double a = x[xo + j];
                    sq += a * a;
                }
                maxSim[row] = id < 0 ? float.NaN : (float)(keys[0] * QuantizeRule.InverseNorm(XMath.Sqrt(sq)));
            }
        }
    }

    /// <summary>
    /// Entry i = (c, j) of the codebook: sum_cj = Σ over code c's bucket (in order) of x[n, j]·inverse[n];
    /// embedAvg ← decay·embedAvg + (1 − decay)·sum; thread j = 0 also updates clusterSize_c with the bucket's count.
    /// </summary>
    [GpuKernel]
    public static void EmaAccumulate(Index1D i, ArrayView<float> x, ArrayView<double> inverse, ArrayView<int> order,
        ArrayView<int> offsets, ArrayView<float> clusterSize, ArrayView<float> embedAvg, EmaParams p)
    {
        int c = i / p.Dim, j = i - c * p.Dim;
        int begin = offsets[c], end = offsets[c + 1];
        double sum = 0;
        for (int k = begin; k < end; k++)
        {
            int n = order[k];
            sum += x[(long)n * p.Dim + j] * inverse[n];
        }
        embedAvg[i] = (float)(p.Decay * embedAvg[i] + p.OneMinusDecay * sum);
        if (j == 0)
        {
            clusterSize[c] = (float)(p.Decay * clusterSize[c] + p.OneMinusDecay * (end - begin));
        }
    }

    /// <summary>total[0] = Σ_c clusterSize_c in float64, codes in order (one thread).</summary>
    [GpuKernel]
    public static void EmaTotal(Index1D i, ArrayView<float> clusterSize, ArrayView<double> total, int codes)
    {
        double t = 0;
        for (int c = 0; c < codes; c++)
        {
            t += clusterSize[c];
        }
        total[i] = t;
    }

    /// <summary>codebook_c = normalise(embedAvg_c / smoothed_c), smoothed_c = (clusterSize_c + ε)/(T + codes·ε)·T.</summary>
    [GpuKernel]
    public static void EmaNormalise(Index1D c, ArrayView<float> clusterSize, ArrayView<float> embedAvg, ArrayView<double> total,
        ArrayView<float> codebook, EmaParams p)
    {
        double t = total[0];
        double denominator = t + p.Codes * p.Epsilon;
        double smoothed = (clusterSize[c] + p.Epsilon) / denominator * t;
        long o = (long)(int)c * p.Dim;
        double s = 0;
        for (int j = 0; j < p.Dim; j++)
        {
            double v = embedAvg[o + j] / smoothed;
            s += v * v;
        }
        double r = QuantizeRule.InverseNorm(XMath.Sqrt(s));
        for (int j = 0; j < p.Dim; j++)
        {
            codebook[o + j] = (float)(embedAvg[o + j] / smoothed * r);
        }
    }
}
