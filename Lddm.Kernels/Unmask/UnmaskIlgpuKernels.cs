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
/// the carry-over mask keeps (HasKeep and keep[row] ≠ 0) leave first, before any draw. The max, Σw and argmax passes
/// read the logits through a 32 × 33 shared tile (<see cref="LoadTile"/>), so global loads are coalesced while each
/// thread still folds its own chunk in id order (the same bits as reading it directly).
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
        var tile = SharedMemory.Allocate<float>(UnmaskRule.Lanes * TileStride);
        int tiles = (chunk + UnmaskRule.Lanes - 1) / UnmaskRule.Lanes, mine = end - begin;
        float m = float.NegativeInfinity;
        for (int tt = 0; tt < tiles; tt++)
        {
            int i0 = tt * UnmaskRule.Lanes;
            LoadTile(logits, tile, o, chunk, k, i0, lane);
            for (int i = 0, n = XMin(UnmaskRule.Lanes, mine - i0); i < n; i++)
            {
                m = UnmaskRule.Max(m, tile[lane * TileStride + i]);
            }
            Group.Barrier();
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
            Argmax(logits, tokens, firsts, tile, o, chunk, begin, end, m, lane, row, k);
            return;
        }
        double s = 0;
        for (int tt = 0; tt < tiles; tt++)
        {
            int i0 = tt * UnmaskRule.Lanes;
            LoadTile(logits, tile, o, chunk, k, i0, lane);
            for (int i = 0, n = XMin(UnmaskRule.Lanes, mine - i0); i < n; i++)
            {
                s += UnmaskRule.Weight(tile[lane * TileStride + i], m, p.InverseTemperature);
            }
            Group.Barrier();
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

    /// <summary>
    /// Lowest j with logits[j] == max: each thread its chunk's first (read through the staged tiles), thread 0 the
    /// first chunk that has one.
    /// </summary>
    private static void Argmax(ArrayView<float> logits, ArrayView<int> tokens, ArrayView<int> firsts, ArrayView<float> tile,
        long o, int chunk, int begin, int end, float m, int lane, int row, int k)
    {
        int first = k, tiles = (chunk + UnmaskRule.Lanes - 1) / UnmaskRule.Lanes, mine = end - begin;
        for (int tt = 0; tt < tiles; tt++)
        {
            int i0 = tt * UnmaskRule.Lanes;
            LoadTile(logits, tile, o, chunk, k, i0, lane);
            for (int i = 0, n = XMin(UnmaskRule.Lanes, mine - i0); i < n; i++)
            {
                if (first == k && tile[lane * TileStride + i] == m)
                {
                    first = begin + i0 + i;
                }
            }
            Group.Barrier();
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

    /// <summary>Row stride of the staging tile: 33 floats, so lane l reading its row hits a different bank than lane l + 1.</summary>
    private const int TileStride = UnmaskRule.Lanes + 1;

    /// <summary>
    /// Stages columns [i0, i0 + 32) of every lane's chunk: for chunk r, the 32 threads read 32 consecutive logits
    /// (chunk r starts at r·chunk) — one or two 128-byte lines, where each thread walking its own chunk would touch 32
    /// lines per step — into row r of the tile; then each lane reads its own row. Entries past a chunk or past K are
    /// never read. Ends with a barrier; the caller's consume loop must end with one before the next call.
    /// </summary>
    private static void LoadTile(ArrayView<float> logits, ArrayView<float> tile, long o, int chunk, int k, int i0, int lane)
    {
        int i = i0 + lane;
        if (i < chunk)
        {
            for (int r = 0; r < UnmaskRule.Lanes; r++)
            {
                int j = r * chunk + i;
                if (j < k)
                {
                    tile[r * TileStride + lane] = logits[o + j];
                }
            }
        }
        Group.Barrier();
    }

    private static int XMin(int a, int b) => a < b ? a : b;
}
