using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lddm.Kernels.Cpu;

/// <summary>
/// One single-matrix GEMM, C = α·op(A)·op(B) + β·C, in the BLIS shape: op(B) is packed in (KC × NC) panels of
/// NR-wide slivers, op(A) in (MC × KC) blocks of MR-tall slivers (transposes are absorbed by the packing, and
/// edges are zero-padded so the micro-kernel always runs a full MR × NR tile). The micro-kernel keeps the
/// MR × NR tile in 16 zmm accumulators and streams one A sliver (L1) against the B panel (L2).
/// </summary>
internal static unsafe partial class CpuGemm
{
    public const int MR = 8, NR = 32;
    public const int KC = 256, MC = 128, NC = 512;

    /// <summary>
    /// A K of at most this many runs as one block instead of KC-deep ones: each C tile is then stored once, not loaded
    /// and stored again per block. Measured (`report kernelcpu`, 1 thread, AVX-512 with two FMA ports): the small
    /// preset's ∂x = ∂y·Wᵀ at K = 384 / 512 and its MLP down projection at K = 512 rose from 80 / 80 / 82 % of the FMA
    /// peak to 86 / 88 / 89 %; longer K (1024³, the weight gradients' K = 2048) stays faster in 256-deep blocks.
    /// </summary>
    public const int KCSingle = 512;

    [ThreadStatic] private static float* t_aPack;
    [ThreadStatic] private static float* t_bPack;

    /// <summary>Scalar path for tiny matrices (and any shape): float accumulation, transposes by index.</summary>
    public static void Small(float* a, float* b, float* c, MatmulShape s)
    {
        int m = s.M, n = s.N, k = s.K;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float sum = 0;
                for (int q = 0; q < k; q++)
                {
                    float x = s.TransposeA ? a[q * m + i] : a[i * k + q];
                    float y = s.TransposeB ? b[j * k + q] : b[q * n + j];
                    sum = MathF.FusedMultiplyAdd(x, y, sum);
                }
                float* dst = c + i * n + j;
                *dst = s.Beta == 0f ? s.Alpha * sum : MathF.FusedMultiplyAdd(s.Beta, *dst, s.Alpha * sum);
            }
        }
    }

    /// <summary>
    /// C = α·op(A)·op(B) + β·C for one matrix. With a <paramref name="pool"/>, C is cut into a grid of
    /// rows × columns rectangles, one per thread, each a whole GEMM through that thread's own packing buffers: no
    /// synchronisation, and each element is computed exactly as on one thread (bit-identical for any thread count).
    /// A thread packs the A rows and B columns of its rectangle, so a grid of r × c rectangles packs A c times and B
    /// r times in all; the grid is the one that minimises that redundant packing (rows when A is the larger operand —
    /// the activations of a projection — columns when B is, e.g. a weight gradient Xᵀ·dY with a long K).
    /// </summary>
    public static void Run(float* a, float* b, float* c, MatmulShape s, CpuParallel? pool) => Run(a, b, c, s, pool, default);

    /// <summary>
    /// <see cref="Run(float*, float*, float*, MatmulShape, CpuParallel?)"/> with <paramref name="epilogue"/> applied to
    /// every tile of C as soon as its last K block is stored (the tile is still in L1).
    /// </summary>
    public static void Run(float* a, float* b, float* c, MatmulShape s, CpuParallel? pool, Epilogue epilogue)
    {
        var (rows, cols) = pool is null ? (1, 1) : Grid(s.M, s.N, pool.Threads);
        if (rows * cols <= 1)
        {
            Rectangle(a, b, c, s, 0, s.M, 0, s.N, epilogue);
            return;
        }
        pool!.For(rows * cols, 1, (start, end) =>
        {
            for (int t = start; t < end; t++)
            {
                int r = t / cols, q = t % cols;
                Rectangle(a, b, c, s, Split(s.M, MR, r, rows), Split(s.M, MR, r + 1, rows),
                    Split(s.N, NR, q, cols), Split(s.N, NR, q + 1, cols), epilogue);
            }
        });
    }

    /// <summary>
    /// What a linear layer does to each finished tile of C: <see cref="Row"/>(C row, bias + column, Y row, width),
    /// i.e. Y = act(C + bias) (Y may be C itself: the bias added in place). <see cref="Row"/> null: nothing.
    /// <see cref="Bias"/> and <see cref="Y"/> point at column 0 / element 0 of the whole matrix; Y has C's shape.
    /// </summary>
    internal readonly struct Epilogue(delegate*<float*, float*, float*, int, void> row, float* bias, float* y)
    {
        public readonly delegate*<float*, float*, float*, int, void> Row = row;
        public readonly float* Bias = bias, Y = y;

        /// <summary>
        /// The gated residual after <see cref="Row"/>: out = residual + gate[row / tokens]·C,
        /// residual and out with C's shape, gate one C-wide row per <see cref="Tokens"/> rows. Null: none.
        /// </summary>
        public float* Residual { get; init; }

        public float* Gate { get; init; }

        public float* Out { get; init; }

        public int Tokens { get; init; }

        public bool Active => Row != null || Gate != null;

        /// <summary>Rows [0, mr) × columns [0, nr) of the tile at (row i, column j) of C, whose first element is at ct.</summary>
        public void Apply(float* ct, int ldc, int i, int j, int mr, int nr)
        {
            if (Row != null)
            {
                float* bias = Bias == null ? null : Bias + j;
                float* y = Y + (long)i * ldc + j;
                for (int r = 0; r < mr; r++)
                {
                    Row(ct + (long)r * ldc, bias, y + (long)r * ldc, nr);
                }
            }
            if (Gate != null)
            {
                for (int r = 0; r < mr; r++)
                {
                    long at = (long)(i + r) * ldc + j;
                    CpuBackend.GatedRow(Residual + at, Gate + (long)((i + r) / Tokens) * ldc + j, ct + (long)r * ldc, Out + at, nr);
                }
            }
        }
    }

    /// <summary>
    /// The rows × columns grid for <paramref name="threads"/> threads (rows·columns ≤ threads, every rectangle at least
    /// two micro-tiles tall and wide) that uses the most threads and, among those, packs the least: columns·M + rows·N.
    /// </summary>
    internal static (int Rows, int Cols) Grid(int m, int n, int threads)
    {
        var best = (Rows: 1, Cols: 1);
        long bestCost = long.MaxValue;
        for (int used = threads; used > 1 && best == (1, 1); used--)
        {
            for (int rows = 1; rows <= used; rows++)
            {
                if (used % rows != 0)
                {
                    continue;
                }
                int cols = used / rows;
                if ((rows > 1 && m < rows * 2 * MR) || (cols > 1 && n < cols * 2 * NR))
                {
                    continue;
                }
                long cost = (long)cols * m + (long)rows * n;
                if (cost < bestCost)
                {
                    bestCost = cost;
                    best = (rows, cols);
                }
            }
        }
        return best;
    }

    /// <summary>The t-th of <paramref name="parts"/> boundaries of [0, n), on multiples of <paramref name="unit"/>.</summary>
    private static int Split(int n, int unit, int t, int parts) =>
        t >= parts ? n : (int)Math.Min(n, (long)(n + unit - 1) / unit * t / parts * unit);

    /// <summary>C[i0..i1, j0..j1] = α·op(A)·op(B) + β·C on the calling thread, through its own packing buffers.</summary>
    private static void Rectangle(float* a, float* b, float* c, MatmulShape s, int i0, int i1, int j0, int j1, Epilogue epilogue)
    {
        t_bPack = t_bPack != null ? t_bPack : Alloc(KCSingle * NC);
        t_aPack = t_aPack != null ? t_aPack : Alloc(KCSingle * MC);
        int kBlock = s.K <= KCSingle ? s.K : KC;
        float* bp = t_bPack, ap = t_aPack;
        // Row-major A (activations × weights, dY·W) is read in place by the micro-kernel (8 row streams of one
        // sliver stay in L1), so only a partial last sliver is packed; transposed A is packed as usual.
        bool direct = !s.TransposeA && Vector512.IsHardwareAccelerated;
        // A transposed A (the weight gradient Xᵀ·∂Y) whose rows are whole slivers is read in place too: each k-step's
        // MR values are contiguous in its stored row. Packing it was a separate pass over X, which comes from L3 (it
        // is read once per call), not overlapped with the FMAs: 14–17 % of `report kernelcpu`'s 128 × 128 × 2048 ∂W.
        // In place, 6–14 % less time for the small step's ∂W with 128 output columns (same time for 384 and 512).
        // B stays packed: read in place (strided k-steps, NR floats each), the wide ∂W got 10–20 % slower.
        bool unpacked = s.TransposeA && Vector512.IsHardwareAccelerated && (i1 - i0) % MR == 0;
        for (int jc = j0; jc < j1; jc += NC)
        {
            int nc = Math.Min(NC, j1 - jc);
            for (int pc = 0; pc < s.K; pc += kBlock)
            {
                int kc = Math.Min(kBlock, s.K - pc);
                // The first K block applies β to C; later blocks add to what the earlier ones wrote.
                float cBeta = pc == 0 ? s.Beta : 1f;
                // The epilogue runs on each tile after the last K block (C complete).
                var e = pc + kc >= s.K ? epilogue : default;
                PackB(b, bp, s.TransposeB, s.N, s.K, jc, nc, pc, kc);
                if (unpacked)
                {
                    for (int ic = i0; ic < i1; ic += MC)
                    {
                        int mc = Math.Min(MC, i1 - ic);
                        Block(new Operand(a + (long)pc * s.M + ic, 1, s.M), null, 0, bp, c, s.N, ic, jc, mc, nc, kc, s.Alpha,
                            cBeta, e);
                    }
                    continue;
                }
                for (int ic = i0; ic < i1; ic += MC)
                {
                    int mc = Math.Min(MC, i1 - ic);
                    if (!direct)
                    {
                        PackA(a, ap, s.TransposeA, s.M, s.K, ic, mc, pc, kc);
                        Block(new Operand(ap, kc, MR), null, 0, bp, c, s.N, ic, jc, mc, nc, kc, s.Alpha, cBeta, e);
                        continue;
                    }
                    int full = mc / MR * MR;
                    if (full < mc)
                    {
                        PackA(a, ap + full * kc, false, s.M, s.K, ic + full, mc - full, pc, kc);
                    }
                    Block(new Operand(ap, kc, MR), a + (long)ic * s.K + pc, s.K, bp, c, s.N, ic, jc, mc, nc, kc, s.Alpha, cBeta, e);
                }
            }
        }
    }

    private static float* Alloc(int floats) => (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);

    /// <summary>
    /// Where the micro-kernel reads A in a block: the sliver at row r of the block starts at <see cref="Start"/> +
    /// r·<see cref="SliverScale"/>, and its k-step p at + p·<see cref="Step"/>. Packed: (buffer, kc, MR); a transposed A
    /// read in place: (its first element in the block, 1, its stored row length).
    /// </summary>
    private readonly struct Operand(float* start, int sliverScale, int step)
    {
        public readonly float* Start = start;
        public readonly int SliverScale = sliverScale, Step = step;

        public float* Sliver(int first) => Start + (long)first * SliverScale;
    }

    /// <summary>
    /// C block (mc × nc at row ic, column jc of C, leading dimension ldc) from A (mc × kc), packed or read in place as
    /// its <see cref="Operand"/> says, and packed B (kc × nc). With <paramref name="a"/> not null, full MR-row slivers are
    /// read in place from row-major A (row stride <paramref name="lda"/>) by <see cref="Kernel512Rows"/> and only a
    /// partial last sliver comes from <paramref name="ap"/>. Every path runs the same FMAs in the same order, so all
    /// are bit-identical. An active <paramref name="epilogue"/> runs on each tile right after it is stored.
    /// </summary>
    private static void Block(Operand ap, float* a, int lda, float* bp, float* cMatrix, int ldc, int ic, int jc, int mc,
        int nc, int kc, float alpha, float cBeta, Epilogue epilogue)
    {
        float* tile = stackalloc float[MR * NR];
        float* c = cMatrix + (long)ic * ldc + jc;
        for (int ir = 0; ir < mc; ir += MR)
        {
            int mr = Math.Min(MR, mc - ir);
            bool inPlace = a != null && mr == MR;
            for (int col = 0; col < nc; col += NR)
            {
                int nr = Math.Min(NR, nc - col);
                float* ct = c + (long)ir * ldc + col;
                if (inPlace)
                {
                    float* rows = a + (long)ir * lda;
                    if (nr == NR)
                    {
                        Kernel512Rows(kc, rows, lda, bp + col * kc, tile, ct, ldc, alpha, cBeta);
                    }
                    else
                    {
                        Kernel512Rows(kc, rows, lda, bp + col * kc, tile);
                        Store(tile, ct, ldc, mr, nr, alpha, cBeta);
                    }
                }
                else if (Vector512.IsHardwareAccelerated && mr == MR && nr == NR)
                {
                    Kernel512(kc, ap.Sliver(ir), ap.Step, bp + col * kc, tile, ct, ldc, alpha, cBeta);
                }
                else
                {
                    // Partial tiles come from a packed A only (an in-place A is whole slivers).
                    if (Vector512.IsHardwareAccelerated)
                    {
                        Kernel512(kc, ap.Sliver(ir), ap.Step, bp + col * kc, tile);
                    }
                    else
                    {
                        Kernel256(kc, ap.Sliver(ir), bp + col * kc, tile);
                    }
                    Store(tile, ct, ldc, mr, nr, alpha, cBeta);
                }
                if (epilogue.Active)
                {
                    epilogue.Apply(ct, ldc, ic + ir, jc + col, mr, nr);
                }
            }
        }
    }

    /// <summary>ap[sliver][p][r] = op(A)[ic + sliver·MR + r, pc + p], zero past row mc.</summary>
    private static void PackA(float* a, float* ap, bool transposed, int m, int k, int ic, int mc, int pc, int kc)
    {
        for (int ir = 0; ir < mc; ir += MR)
        {
            float* dst = ap + ir * kc;
            int mr = Math.Min(MR, mc - ir);
            if (transposed)
            {
                // A stored (k, m): the MR rows of a sliver are contiguous in each stored row.
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)(pc + p) * m + ic + ir;
                    float* d = dst + p * MR;
                    if (mr == MR && Vector256.IsHardwareAccelerated)
                    {
                        Vector256.Load(src).Store(d);
                        continue;
                    }
                    int r = 0;
                    for (; r < mr; r++) d[r] = src[r];
                    for (; r < MR; r++) d[r] = 0f;
                }
            }
            else if (mr == MR && Avx.IsSupported)
            {
                // A stored (m, k): 8 × 8 register transposes turn 8 row streams into contiguous k-steps.
                float* src = a + (long)(ic + ir) * k + pc;
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                {
                    Transpose8x8(src + p, k, dst + p * MR, MR);
                }
                for (; p < kc; p++)
                {
                    for (int r = 0; r < MR; r++) dst[p * MR + r] = src[(long)r * k + p];
                }
            }
            else
            {
                for (int r = 0; r < MR; r++)
                {
                    float* src = a + (long)(ic + ir + r) * k + pc;
                    if (r < mr)
                    {
                        for (int p = 0; p < kc; p++) dst[p * MR + r] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) dst[p * MR + r] = 0f;
                    }
                }
            }
        }
    }

    /// <summary>bp[sliver][p][j] = op(B)[pc + p, jc + sliver·NR + j], zero past column nc.</summary>
    private static void PackB(float* b, float* bp, bool transposed, int n, int k, int jc, int nc, int pc, int kc)
    {
        for (int col = 0; col < nc; col += NR)
        {
            float* dst = bp + col * kc;
            int nr = Math.Min(NR, nc - col);
            if (transposed && nr == NR && Avx.IsSupported)
            {
                // B stored (n, k): 8 × 8 register transposes of 8 stored rows give 8 k-steps of 8 columns.
                float* src = b + (long)(jc + col) * k + pc;
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                {
                    for (int j = 0; j < NR; j += 8)
                    {
                        Transpose8x8(src + (long)j * k + p, k, dst + p * NR + j, NR);
                    }
                }
                for (; p < kc; p++)
                {
                    for (int j = 0; j < NR; j++) dst[p * NR + j] = src[(long)j * k + p];
                }
            }
            else if (transposed)
            {
                // B stored (n, k): each output column is a contiguous run of a stored row.
                for (int j = 0; j < NR; j++)
                {
                    float* src = b + (long)(jc + col + j) * k + pc;
                    if (j < nr)
                    {
                        for (int p = 0; p < kc; p++) dst[p * NR + j] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) dst[p * NR + j] = 0f;
                    }
                }
            }
            else if (nr == NR && Vector512.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)(pc + p) * n + jc + col;
                    Vector512.Store(Vector512.Load(src), dst + p * NR);
                    Vector512.Store(Vector512.Load(src + 16), dst + p * NR + 16);
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)(pc + p) * n + jc + col;
                    float* d = dst + p * NR;
                    int j = 0;
                    for (; j < nr; j++) d[j] = src[j];
                    for (; j < NR; j++) d[j] = 0f;
                }
            }
        }
    }
}
