using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// Codebook transposed to float64 (dim, codes) once per call, so a row's keys accumulate with SIMD lanes over
    /// codes: lane c adds x[j]·e_c[j] for j = 0, 1, … in order, exactly the canonical dot of <see cref="QuantizeRule"/>.
    /// </summary>
    protected override unsafe void NearestCodeCore(DeviceBuffer<float> x, DeviceBuffer<float> codebook, int rows, int codes,
        int dim, DeviceBuffer<int> indices, DeviceBuffer<float>? maxSimilarity)
    {
        float* px = Raw(x).Pointer, pe = Raw(codebook).Pointer;
        int* pi = Raw(indices).Pointer;
        float* ps = maxSimilarity is null ? null : Raw(maxSimilarity).Pointer;
        var transposed = new double[(long)dim * codes];
        var inverse = new double[codes];
        Pool.For(codes, Math.Max(1, RowChunk / dim), (start, end) =>
        {
            for (int c = start; c < end; c++)
            {
                inverse[c] = QuantizeRule.InverseNorm(Math.Sqrt(SumSquares(pe + (long)c * dim, dim)));
                for (int j = 0; j < dim; j++)
                {
                    transposed[(long)j * codes + c] = pe[(long)c * dim + j];
                }
            }
        });
        Pool.For(rows, Math.Max(1, RowChunk / Math.Max(1, codes * dim / 64)), (start, end) =>
        {
            var dots = new double[codes];
            fixed (double* pt = transposed, pd = dots)
            {
                for (int n = start; n < end; n++)
                {
                    float* xn = px + (long)n * dim;
                    Dots(xn, pt, pd, codes, dim);
                    double best = double.NegativeInfinity;
                    int bestId = -1;
                    for (int c = 0; c < codes; c++)
                    {
                        double key = pd[c] * inverse[c];
                        if (QuantizeRule.Beats(key, c, best, bestId))
                        {
                            best = key;
                            bestId = c;
                        }
                    }
                    pi[n] = bestId < 0 ? 0 : bestId;
                    if (ps != null)
                    {
                        ps[n] = bestId < 0 ? float.NaN : (float)(best * QuantizeRule.InverseNorm(Math.Sqrt(SumSquares(xn, dim))));
                    }
                }
            }
        });
    }

    /// <summary>dots[c] = Σ_j x[j]·eᵀ[j, c], from zero in j order per code, SIMD over codes.</summary>
    private static unsafe void Dots(float* x, double* transposed, double* dots, int codes, int dim)
    {
        new Span<double>(dots, codes).Clear();
        for (int j = 0; j < dim; j++)
        {
            double xj = x[j];
            double* row = transposed + (long)j * codes;
            int c = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var vx = Vector256.Create(xj);
                for (; c <= codes - 4; c += 4)
                {
                    (Vector256.Load(dots + c) + vx * Vector256.Load(row + c)).Store(dots + c);
                }
            }
            for (; c < codes; c++)
            {
                dots[c] += xj * row[c];
            }
        }
    }

    /// <summary>Σ_j v_j² in float64 from zero in j order (each square is exact).</summary>
    private static unsafe double SumSquares(float* v, int dim)
    {
        double s = 0;
        for (int j = 0; j < dim; j++)
        {
            double a = v[j];
            s += a * a;
        }
        return s;
    }

    protected override unsafe void CodebookEmaUpdateCore(DeviceBuffer<float> x, DeviceBuffer<int> order, DeviceBuffer<int> offsets,
        int rows, int codes, int dim, double decay, double oneMinusDecay, double epsilon, DeviceBuffer<float> clusterSize,
        DeviceBuffer<float> embedAvg, DeviceBuffer<float> codebook)
    {
        float* px = Raw(x).Pointer, pcs = Raw(clusterSize).Pointer, pea = Raw(embedAvg).Pointer, pcb = Raw(codebook).Pointer;
        int* po = Raw(order).Pointer, poff = Raw(offsets).Pointer;
        var inverse = new double[rows];
        Pool.For(rows, Math.Max(1, RowChunk / dim), (start, end) =>
        {
            for (int n = start; n < end; n++)
            {
                inverse[n] = QuantizeRule.InverseNorm(Math.Sqrt(SumSquares(px + (long)n * dim, dim)));
            }
        });
        Pool.For(codes, Math.Max(1, RowChunk / dim), (start, end) =>
        {
            var sum = new double[dim];
            for (int c = start; c < end; c++)
            {
                Array.Clear(sum);
                for (int k = poff[c]; k < poff[c + 1]; k++)
                {
                    int n = po[k];
                    float* xn = px + (long)n * dim;
                    double r = inverse[n];
                    for (int j = 0; j < dim; j++)
                    {
                        sum[j] += xn[j] * r;
                    }
                }
                float* ea = pea + (long)c * dim;
                for (int j = 0; j < dim; j++)
                {
                    ea[j] = (float)(decay * ea[j] + oneMinusDecay * sum[j]);
                }
                pcs[c] = (float)(decay * pcs[c] + oneMinusDecay * (poff[c + 1] - poff[c]));
            }
        });
        double total = 0;
        for (int c = 0; c < codes; c++)
        {
            total += pcs[c];
        }
        double denominator = total + codes * epsilon;
        Pool.For(codes, Math.Max(1, RowChunk / dim), (start, end) =>
        {
            for (int c = start; c < end; c++)
            {
                double smoothed = (pcs[c] + epsilon) / denominator * total;
                float* ea = pea + (long)c * dim, cb = pcb + (long)c * dim;
                double s = 0;
                for (int j = 0; j < dim; j++)
                {
                    double v = ea[j] / smoothed;
                    s += v * v;
                }
                double r = QuantizeRule.InverseNorm(Math.Sqrt(s));
                for (int j = 0; j < dim; j++)
                {
                    cb[j] = (float)(ea[j] / smoothed * r);
                }
            }
        });
    }
}
