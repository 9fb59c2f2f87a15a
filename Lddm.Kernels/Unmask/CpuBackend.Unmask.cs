using System.Buffers;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// Parallel over rows. Inside a row: the max (exact in any order) and the float64 weights are vectorised, the
    /// weights by <see cref="ExpVector"/>, which rounds exactly like the scalar <see cref="UnmaskRule.Exp"/> of the
    /// ILGPU kernel; the sums stay scalar in the canonical order of <see cref="UnmaskRule"/>. That is what keeps the
    /// tokens bit-identical to the ILGPU kernel.
    /// </summary>
    protected override unsafe void UnmaskStepCore(DeviceBuffer<float> logits, DeviceBuffer<int> tokens, int rows,
        int vocab, double unmaskProbability, double inverseTemperature, ulong seed, ulong stream, long offset, UnmaskMode mode,
        DeviceBuffer<int>? keep)
    {
        float* pl = Raw(logits).Pointer;
        int* pt = Raw(tokens).Pointer;
        int* pk = keep is null ? null : Raw(keep).Pointer;
        int k = vocab - 1;
        Pool.For(rows, Math.Max(1, RowChunk / vocab / 4), (start, end) =>
        {
            double[] weights = mode == UnmaskMode.Argmax ? [] : ArrayPool<double>.Shared.Rent(k);
            fixed (double* w = weights)
            {
                for (int r = start; r < end; r++)
                {
                    if (pk != null && pk[r] != 0)
                    {
                        continue; // carry-over mask: a fixed token, or a position outside the current block
                    }
                    UnmaskRow(pl, pt, r, vocab, unmaskProbability, inverseTemperature, seed, stream, offset, mode, w);
                }
            }
            if (weights.Length > 0)
            {
                ArrayPool<double>.Shared.Return(weights);
            }
        });
    }

    private static unsafe void UnmaskRow(float* pl, int* pt, int r, int vocab, double a, double inverseTemperature,
        ulong seed, ulong stream, long offset, UnmaskMode mode, double* w)
    {
        int k = vocab - 1;
        if (pt[r] != k)
        {
            return; // carry-over: already unmasked
        }
        float* l = pl + (long)r * vocab;
        if (mode == UnmaskMode.Argmax)
        {
            pt[r] = ArgmaxRow(l, k);
            return;
        }
        double u = Philox.UniformDouble(seed, stream, offset + r);
        if (u >= a)
        {
            return; // the MASK slab [a, 1): stays masked
        }
        pt[r] = DrawRow(l, k, u, a, inverseTemperature, mode == UnmaskMode.Fill, w);
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
    private static unsafe int DrawRow(float* l, int k, double u, double a, double inverseTemperature, bool fill, double* w)
    {
        const int lanes = UnmaskRule.Lanes;
        float m = RowMaxNanIgnoring(l, k);
        RowWeights(l, k, m, inverseTemperature, w);
        int chunk = UnmaskRule.ChunkSize(k);
        double* partial = stackalloc double[lanes];
        ChunkSums(w, k, chunk, partial);
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
                    c += w[j];
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

    /// <summary>
    /// partial[l] = w[l·C] + w[l·C + 1] + … in that order (from zero), for the <see cref="UnmaskRule.Lanes"/> chunks
    /// of C: the full chunks advance together one position at a time, so their 32 dependency chains overlap.
    /// </summary>
    private static unsafe void ChunkSums(double* w, int k, int chunk, double* partial)
    {
        const int lanes = UnmaskRule.Lanes;
        int full = k / chunk;
        for (int lane = 0; lane < lanes; lane++)
        {
            partial[lane] = 0;
        }
        for (int i = 0; i < chunk; i++)
        {
            double* wi = w + i;
            for (int lane = 0; lane < full; lane++)
            {
                partial[lane] += wi[lane * chunk];
            }
        }
        if (full < lanes)
        {
            double s = 0;
            for (int j = full * chunk; j < k; j++)
            {
                s += w[j];
            }
            partial[full] = s;
        }
    }

    /// <summary>w[j] = <see cref="UnmaskRule.Weight"/>(l[j], m, 1/τ) for j &lt; k, eight at a time where possible.</summary>
    private static unsafe void RowWeights(float* l, int k, float m, double inverseTemperature, double* w)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated && m != float.NegativeInfinity)
        {
            var vm = Vector512.Create((double)m);
            var vt = Vector512.Create(inverseTemperature);
            for (; j <= k - 8; j += 8)
            {
                var x = Vector512.WidenLower(Vector256.Load(l + j).ToVector512Unsafe());
                ExpVector((x - vm) * vt).Store(w + j);
            }
        }
        for (; j < k; j++)
        {
            w[j] = UnmaskRule.Weight(l[j], m, inverseTemperature);
        }
    }

    /// <summary><see cref="UnmaskRule.Exp"/> on eight lanes: the same adds and multiplies in the same order.</summary>
    private static Vector512<double> ExpVector(Vector512<double> x)
    {
        var shifter = Vector512.Create(UnmaskRule.Shifter);
        var shifted = x * Vector512.Create(UnmaskRule.Log2E) + shifter;
        var n = shifted - shifter;
        var r = x - n * Vector512.Create(UnmaskRule.Ln2Hi) - n * Vector512.Create(UnmaskRule.Ln2Lo);
        var p = Vector512.Create(UnmaskRule.C12);
        p = p * r + Vector512.Create(UnmaskRule.C11);
        p = p * r + Vector512.Create(UnmaskRule.C10);
        p = p * r + Vector512.Create(UnmaskRule.C9);
        p = p * r + Vector512.Create(UnmaskRule.C8);
        p = p * r + Vector512.Create(UnmaskRule.C7);
        p = p * r + Vector512.Create(UnmaskRule.C6);
        p = p * r + Vector512.Create(UnmaskRule.C5);
        p = p * r + Vector512.Create(UnmaskRule.C4);
        p = p * r + Vector512.Create(UnmaskRule.C3);
        p = p * r + Vector512.Create(UnmaskRule.C2);
        p = p * r + Vector512<double>.One;
        p = p * r + Vector512<double>.One;
        // shifted lies in [2⁵², 2⁵³) where the ulp is 1, so its bits minus the shifter's bits are n itself: the same
        // integer as the scalar (long)n, without a double → int64 conversion.
        var bias = Vector512.Create(1023L - BitConverter.DoubleToInt64Bits(UnmaskRule.Shifter));
        var scale = ((shifted.AsInt64() + bias) << 52).AsDouble();
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(UnmaskRule.ExpFloor)),
            Vector512<double>.Zero, p * scale);
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
