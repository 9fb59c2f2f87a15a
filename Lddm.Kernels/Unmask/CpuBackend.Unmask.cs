using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// Parallel over rows, scalar float64 inside a row: the weights go through System.Math.Exp in the canonical
    /// order of <see cref="UnmaskRule"/>, which is what keeps the tokens bit-identical to the ILGPU kernel (a vector
    /// exp would round differently). Only the row max, exact in any order, is vectorised.
    /// </summary>
    protected override unsafe void UnmaskStepCore(DeviceBuffer<float> logits, DeviceBuffer<int> tokens, int rows,
        int vocab, double unmaskProbability, double temperature, ulong seed, ulong stream, long offset, UnmaskMode mode)
    {
        float* pl = Raw(logits).Pointer;
        int* pt = Raw(tokens).Pointer;
        int k = vocab - 1;
        CpuParallel.For(rows, Math.Max(1, RowChunk / vocab / 4), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                if (pt[r] != k)
                {
                    continue; // carry-over: already unmasked
                }
                float* l = pl + (long)r * vocab;
                if (mode == UnmaskMode.Argmax)
                {
                    pt[r] = ArgmaxRow(l, k);
                    continue;
                }
                double u = Philox.UniformDouble(seed, stream, offset + r);
                if (u >= unmaskProbability)
                {
                    continue; // the MASK slab [a, 1): stays masked
                }
                pt[r] = DrawRow(l, k, u, unmaskProbability, temperature, mode == UnmaskMode.Fill);
            }
        });
    }

    private static unsafe int ArgmaxRow(float* l, int k)
    {
        float m = RowMaxNanIgnoring(l, k);
        for (int j = 0; j < k; j++)
        {
            if (l[j] == m)
            {
                return j;
            }
        }
        return k - 1; // only when every real logit is NaN
    }

    /// <summary>The inverse-CDF draw of one masked row (see <see cref="UnmaskRule"/>): chunk sums, then one chunk scanned.</summary>
    private static unsafe int DrawRow(float* l, int k, double u, double a, double temperature, bool fill)
    {
        const int lanes = UnmaskRule.Lanes;
        float m = RowMaxNanIgnoring(l, k);
        int chunk = UnmaskRule.ChunkSize(k);
        double* partial = stackalloc double[lanes];
        for (int lane = 0; lane < lanes; lane++)
        {
            int begin = Math.Min(k, lane * chunk), end = Math.Min(k, begin + chunk);
            double s = 0;
            for (int j = begin; j < end; j++)
            {
                s += UnmaskRule.Weight(l[j], m, temperature);
            }
            partial[lane] = s;
        }
        double z = 0;
        for (int lane = 0; lane < lanes; lane++)
        {
            z += partial[lane];
        }
        double t = UnmaskRule.Threshold(u, a, z), cap = UnmaskRule.Cap(fill, z);
        double before = 0;
        for (int lane = 0; lane < lanes; lane++)
        {
            double after = before + partial[lane];
            if (UnmaskRule.Hit(after, t, cap))
            {
                int begin = Math.Min(k, lane * chunk), end = Math.Min(k, begin + chunk);
                double c = 0;
                for (int j = begin; j < end; j++)
                {
                    c += UnmaskRule.Weight(l[j], m, temperature);
                    if (UnmaskRule.Hit(before + c, t, cap))
                    {
                        return j;
                    }
                }
                return end - 1; // unreachable: the chunk's running sum ends at exactly `after`
            }
            before = after;
        }
        return fill ? k - 1 : k; // nothing past the threshold (rounding, or NaN logits)
    }

    /// <summary>Max of x[0..n) ignoring NaN (same rule as <see cref="UnmaskRule.Max"/>): exact in any order.</summary>
    private static unsafe float RowMaxNanIgnoring(float* x, int n)
    {
        int i = 0;
        float m = float.NegativeInfinity;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var vm = Vector512.Create(float.NegativeInfinity);
            for (; i <= n - 16; i += 16)
            {
                var v = Vector512.Load(x + i);
                vm = Vector512.ConditionalSelect(Vector512.GreaterThan(v, vm), v, vm);
            }
            for (int j = 0; j < 16; j++)
            {
                m = UnmaskRule.Max(m, vm.GetElement(j));
            }
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var vm = Vector256.Create(float.NegativeInfinity);
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.Load(x + i);
                vm = Vector256.ConditionalSelect(Vector256.GreaterThan(v, vm), v, vm);
            }
            for (int j = 0; j < 8; j++)
            {
                m = UnmaskRule.Max(m, vm.GetElement(j));
            }
        }
        for (; i < n; i++)
        {
            m = UnmaskRule.Max(m, x[i]);
        }
        return m;
    }
}
