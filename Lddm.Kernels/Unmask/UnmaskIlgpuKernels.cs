using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Everything <see cref="UnmaskIlgpuKernels.Step"/> needs besides the buffers (HasKeep ≠ 0: the keep view is read).</summary>
internal readonly struct UnmaskParams(int vocab, int mode, double unmaskProbability, double inverseTemperature, ulong seed,
    ulong stream, long offset, int hasKeep)
{
    public readonly int Vocab = vocab, Mode = mode, HasKeep = hasKeep;
    public readonly double UnmaskProbability = unmaskProbability, InverseTemperature = inverseTemperature;
    public readonly ulong Seed = seed, Stream = stream;
    public readonly long Offset = offset;
}

/// <summary>
/// The fused sampler step: one group of <see cref="UnmaskRule.Lanes"/> threads per row (grid = rows), thread l owns
/// chunk l of the canonical layout of <see cref="UnmaskRule"/>. Carry-over rows and rows whose draw lands in the
/// MASK slab (u ≥ a) leave before reading a logit. Otherwise: chunk max → shared → row max; chunk Σw in float64 →
/// shared → every thread folds the same prefixes; the one thread whose chunk crosses the threshold rescans its
/// chunk and writes the token. No barrier sits in a divergent branch (u and the mode are uniform per group). Rows
/// the carry-over mask keeps (HasKeep and keep[row] ≠ 0) leave first, before any draw.
/// </summary>
internal static class UnmaskIlgpuKernels
{
    private const int ModeFill = (int)UnmaskMode.Fill, ModeArgmax = (int)UnmaskMode.Argmax;

    [GpuKernel(Hot = true)]
    public static void Step(ArrayView<float> logits, ArrayView<int> tokens, ArrayView<int> keep, UnmaskParams p)
    {
        var peaks = SharedMemory.Allocate<float>(UnmaskRule.Lanes);
        var partials = SharedMemory.Allocate<double>(UnmaskRule.Lanes);
        var firsts = SharedMemory.Allocate<int>(UnmaskRule.Lanes);
        int row = Grid.IdxX, lane = Group.IdxX, k = p.Vocab - 1;
        if (p.HasKeep != 0 && keep[row] != 0)
        {
            return; // carry-over mask: a fixed token, or a position outside the current block
        }
        if (tokens[row] != k)
        {
            return; // carry-over
        }
        double u = Philox.UniformDouble(p.Seed, p.Stream, p.Offset + row);
        if (p.Mode != ModeArgmax && u >= p.UnmaskProbability)
        {
            return; // stays MASK
        }
        int chunk = UnmaskRule.ChunkSize(k);
        int begin = XMin(k, lane * chunk), end = XMin(k, begin + chunk);
        long o = (long)row * p.Vocab;
        float m = float.NegativeInfinity;
        for (int j = begin; j < end; j++)
        {
            m = UnmaskRule.Max(m, logits[o + j]);
        }
        peaks[lane] = m;
        Group.Barrier();
        m = peaks[0];
        for (int l = 1; l < UnmaskRule.Lanes; l++)
        {
            m = UnmaskRule.Max(m, peaks[l]);
        }
        if (p.Mode == ModeArgmax)
        {
            Argmax(logits, tokens, firsts, o, begin, end, m, lane, row, k);
            return;
        }
        double s = 0;
        for (int j = begin; j < end; j++)
        {
            s += UnmaskRule.Weight(logits[o + j], m, p.InverseTemperature);
        }
        partials[lane] = s;
        Group.Barrier();
        double z = 0, before = 0, after = 0;
        for (int l = 0; l < UnmaskRule.Lanes; l++)
        {
            if (l == lane)
            {
                before = z;
            }
            z += partials[l];
            if (l == lane)
            {
                after = z;
            }
        }
        bool fill = p.Mode == ModeFill;
        double t = UnmaskRule.Threshold(u, p.UnmaskProbability, z), cap = UnmaskRule.Cap(fill, z);
        if (UnmaskRule.Hit(after, t, cap) && !UnmaskRule.Hit(before, t, cap))
        {
            int pick = end - 1; // unreachable fallback: the running sum ends at exactly `after`
            double c = 0;
            for (int j = begin; j < end; j++)
            {
                c += UnmaskRule.Weight(logits[o + j], m, p.InverseTemperature);
                if (UnmaskRule.Hit(before + c, t, cap))
                {
                    pick = j;
                    break;
                }
            }
            tokens[row] = pick;
        }
        else if (lane == 0 && fill && !UnmaskRule.Hit(z, t, cap))
        {
            tokens[row] = k - 1; // NaN logits only; Posterior's fallback (MASK) is already in place
        }
    }

    /// <summary>Lowest j with logits[j] == max: each thread its chunk's first, thread 0 the first chunk that has one.</summary>
    private static void Argmax(ArrayView<float> logits, ArrayView<int> tokens, ArrayView<int> firsts, long o, int begin,
        int end, float m, int lane, int row, int k)
    {
        int first = k;
        for (int j = begin; j < end; j++)
        {
            if (logits[o + j] == m)
            {
                first = j;
                break;
            }
        }
        firsts[lane] = first;
        Group.Barrier();
        if (lane == 0)
        {
            int best = k;
            for (int l = 0; l < UnmaskRule.Lanes; l++)
            {
                best = best < k ? best : firsts[l];
            }
            tokens[row] = best < k ? best : k - 1;
        }
    }

    private static int XMin(int a, int b) => a < b ? a : b;
}
