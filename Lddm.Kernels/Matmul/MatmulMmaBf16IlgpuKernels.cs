using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// One lane's share of a 16 × 16 BF16 A tile of <c>mma.sync.m16n8k16</c> (row-major), two BF16 values per register,
/// the lower column in the low half (PTX ISA fragment layout, g = lane &gt;&gt; 2, t = lane &amp; 3):
/// A0 = A[g, 2t..2t+1], A1 = A[g+8, 2t..2t+1], A2 = A[g, 2t+8..2t+9], A3 = A[g+8, 2t+8..2t+9].
/// </summary>
public struct MmaBf16FragmentA
{
    public uint A0, A1, A2, A3;
}

/// <summary>One lane's share of the 16 × 8 BF16 B tile (column-major): B0 = B[2t..2t+1, g], B1 = B[2t+8..2t+9, g].</summary>
public struct MmaBf16FragmentB
{
    public uint B0, B1;
}

/// <summary>
/// The BF16 tensor-core step, <c>mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32</c> (FP32 accumulators), and
/// its emulation on every other accelerator: lanes publish their 6 registers in a per-warp shared scratch and each
/// gathers the 16 + 16 BF16 operands its four accumulators need — the fragment layout is checked on the simulator.
/// </summary>
internal static class MmaBf16
{
    /// <summary>Words of emulation scratch per warp: 32 lanes × (4 A + 2 B registers).</summary>
    public const int ScratchPerWarp = 32 * 6;

    public static MmaAccumulator Mma(MmaAccumulator c, MmaBf16FragmentA a, MmaBf16FragmentB b, ArrayView<uint> scratch)
    {
        if (CudaAsm.IsSupported)
        {
            Ref<float> d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
            Input<uint> a0 = a.A0, a1 = a.A1, a2 = a.A2, a3 = a.A3, b0 = b.B0, b1 = b.B1;
            CudaAsm.EmitRef(
                "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
            return new MmaAccumulator { C0 = d0.Value, C1 = d1.Value, C2 = d2.Value, C3 = d3.Value };
        }
        return Emulated(c, a, b, scratch);
    }

    /// <summary>
    /// Lane (g, t) needs rows g and g+8 of A (lane 4g+q holds columns 2q, 2q+1 in A0/A1 and 2q+8, 2q+9 in A2/A3) and
    /// columns 2t and 2t+1 of B (lane 4n+q holds rows 2q, 2q+1 of column n in B0 and 2q+8, 2q+9 in B1).
    /// </summary>
    private static MmaAccumulator Emulated(MmaAccumulator c, MmaBf16FragmentA a, MmaBf16FragmentB b, ArrayView<uint> scratch)
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        int o = lane * 6;
        scratch[o] = a.A0;
        scratch[o + 1] = a.A1;
        scratch[o + 2] = a.A2;
        scratch[o + 3] = a.A3;
        scratch[o + 4] = b.B0;
        scratch[o + 5] = b.B1;
        Warp.Barrier();
        float d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
        for (int q = 0; q < 4; q++)
        {
            for (int half = 0; half < 2; half++)
            {
                int srcA = (4 * g + q) * 6, srcB0 = (8 * t + q) * 6, srcB1 = (8 * t + 4 + q) * 6;
                // k = 2q + half (registers 0/1 of A, B0 of B) and k + 8 (registers 2/3 of A, B1 of B).
                float aLo = Half(scratch[srcA], half), aHi = Half(scratch[srcA + 1], half);
                float aLo8 = Half(scratch[srcA + 2], half), aHi8 = Half(scratch[srcA + 3], half);
                float b0 = Half(scratch[srcB0 + 4], half), b08 = Half(scratch[srcB0 + 5], half);
                float b1 = Half(scratch[srcB1 + 4], half), b18 = Half(scratch[srcB1 + 5], half);
                d0 += aLo * b0 + aLo8 * b08;
                d1 += aLo * b1 + aLo8 * b18;
                d2 += aHi * b0 + aHi8 * b08;
                d3 += aHi * b1 + aHi8 * b18;
            }
        }
        // Nobody overwrites the scratch (next call) before every lane has read it.
        Warp.Barrier();
        return new MmaAccumulator { C0 = d0, C1 = d1, C2 = d2, C3 = d3 };
    }

    /// <summary>The BF16 value in the low (half 0) or high (half 1) 16 bits of a register, as a float.</summary>
    private static float Half(uint word, int half) => Interop.IntAsFloat(half == 0 ? word << 16 : word & 0xFFFF0000u);

    /// <summary>
    /// The BF16 bits of x, rounded to nearest, ties to even (what <c>cvt.rn.bf16.f32</c> does; NaNs stay NaN,
    /// infinities pass through). Integer arithmetic, so every accelerator rounds alike.
    /// </summary>
    public static uint ToBf16(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        if ((bits & 0x7F800000u) == 0x7F800000u)
        {
            return (bits >> 16) | ((bits & 0xFFFFu) != 0 ? 0x40u : 0u); // keep a NaN a NaN after truncation
        }
        return (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    }
}

/// <summary>
/// BF16-input tensor-core batched GEMM with FP32 accumulation, C = α·op(A)·op(B) + β·C for every
/// <see cref="MatmulShape"/> — the TF32 kernel's structure (<see cref="MatmulMmaIlgpuKernels"/>: 256 threads in 2 × 4
/// warps, 128 × 128 block tile, 64 × 32 per warp = 4 × 4 m16n8 tiles, 16-deep K slices in two shared buffers with
/// register-staged prefetch, one barrier per slice) with one <c>m16n8k16</c> per tile and slice instead of two
/// <c>m16n8k8</c>. Operands are rounded to BF16 once, as they are stored to shared memory, where both live k-contiguous
/// as 16-bit halves (A as [m][k], B as [n][k], rows of 24 halves = 12 words: the 8 × 4 words of a fragment load hit
/// 32 distinct banks), so every fragment register is one aligned 32-bit read of two consecutive k. BF16 keeps 8
/// mantissa bits: products carry ~2⁻⁸ relative error per operand — an option for throughput, never the default.
/// </summary>
internal static class MatmulMmaBf16IlgpuKernels
{
    public const int TileM = 128, TileN = 128, KTile = 16, GroupSize = 256;
    private const int Pitch = KTile + 8, PitchWords = Pitch / 2;
    private const int ABuffer = TileM * PitchWords, BBuffer = TileN * PitchWords;

    /// <summary>Grid: TilesM·TilesN·batch groups of 256 threads (tiles of 128 × 128). C unread when β = 0.</summary>
    [GpuKernel(Hot = true)]
    public static void MatmulMmaBf16(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s) =>
        Gemm(a, b, c, s, new PlainGemmStore(s.Alpha, s.Beta));

    /// <summary>A linear layer, y = act(x·W + bias), on BF16 tensor cores (see <see cref="LinearGemmStore"/>).</summary>
    [GpuKernel(Hot = true)]
    public static void MatmulMmaBf16Linear(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s,
        ArrayView<float> bias, ArrayView<float> y, ActivationShape epilogue) =>
        Gemm(a, b, c, s, new LinearGemmStore(bias, y, epilogue));

    /// <summary>A gated residual branch's closing linear layer on BF16 tensor cores (see <see cref="GatedGemmStore"/>).</summary>
    [GpuKernel(Hot = true)]
    public static void MatmulMmaBf16Gated(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s,
        ArrayView<float> bias, int hasBias, ArrayView<float> residual, ArrayView<float> gate, ArrayView<float> y, int tokens) =>
        Gemm(a, b, c, s, new GatedGemmStore(bias, hasBias, residual, gate, y, s.N, tokens));

    private static void Gemm<TStore>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s, TStore store)
        where TStore : struct, IGemmStore
    {
        var As = SharedMemory.Allocate<uint>(2 * ABuffer);
        var Bs = SharedMemory.Allocate<uint>(2 * BBuffer);
        var scratchAll = SharedMemory.Allocate<uint>(GroupSize / 32 * MmaBf16.ScratchPerWarp);
        int t = Group.IdxX, grid = Grid.IdxX;
        int m = s.M, n = s.N, k = s.K;
        var at = new GemmTile(s, grid, TileM, TileN);
        int row0 = at.Row0, col0 = at.Col0, aOff = at.AOff, bOff = at.BOff, cOff = at.COff;
        int lane = t & 31, warp = t >> 5;
        int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
        int g = lane >> 2, tg = lane & 3;
        var scratch = scratchAll.SubView(warp * MmaBf16.ScratchPerWarp, MmaBf16.ScratchPerWarp);

        MmaAccumulator c00 = default, c01 = default, c02 = default, c03 = default;
        MmaAccumulator c10 = default, c11 = default, c12 = default, c13 = default;
        MmaAccumulator c20 = default, c21 = default, c22 = default, c23 = default;
        MmaAccumulator c30 = default, c31 = default, c32 = default, c33 = default;

        int kTiles = (k + KTile - 1) / KTile;
        var ra0 = MatmulMmaIlgpuKernels.LoadA(a, s, aOff, row0, 0, t);
        var ra1 = MatmulMmaIlgpuKernels.LoadA(a, s, aOff, row0, 0, t + GroupSize);
        var rb0 = MatmulMmaIlgpuKernels.LoadB(b, s, bOff, col0, 0, t);
        var rb1 = MatmulMmaIlgpuKernels.LoadB(b, s, bOff, col0, 0, t + GroupSize);
        StoreA(As, s, 0, t, ra0);
        StoreA(As, s, 0, t + GroupSize, ra1);
        StoreB(Bs, s, 0, t, rb0);
        StoreB(Bs, s, 0, t + GroupSize, rb1);
        Group.Barrier();
        for (int kt = 0; kt < kTiles; kt++)
        {
            int cur = kt & 1;
            bool more = kt + 1 < kTiles;
            if (more)
            {
                int k0 = (kt + 1) * KTile;
                ra0 = MatmulMmaIlgpuKernels.LoadA(a, s, aOff, row0, k0, t);
                ra1 = MatmulMmaIlgpuKernels.LoadA(a, s, aOff, row0, k0, t + GroupSize);
                rb0 = MatmulMmaIlgpuKernels.LoadB(b, s, bOff, col0, k0, t);
                rb1 = MatmulMmaIlgpuKernels.LoadB(b, s, bOff, col0, k0, t + GroupSize);
            }
            int aBase = cur * ABuffer, bBase = cur * BBuffer;
            var fa0 = FragmentA(As, aBase + (wm + g) * PitchWords + tg);
            var fa1 = FragmentA(As, aBase + (wm + 16 + g) * PitchWords + tg);
            var fa2 = FragmentA(As, aBase + (wm + 32 + g) * PitchWords + tg);
            var fa3 = FragmentA(As, aBase + (wm + 48 + g) * PitchWords + tg);
            var fb0 = FragmentB(Bs, bBase + (wn + g) * PitchWords + tg);
            var fb1 = FragmentB(Bs, bBase + (wn + 8 + g) * PitchWords + tg);
            var fb2 = FragmentB(Bs, bBase + (wn + 16 + g) * PitchWords + tg);
            var fb3 = FragmentB(Bs, bBase + (wn + 24 + g) * PitchWords + tg);
            c00 = MmaBf16.Mma(c00, fa0, fb0, scratch); c01 = MmaBf16.Mma(c01, fa0, fb1, scratch);
            c02 = MmaBf16.Mma(c02, fa0, fb2, scratch); c03 = MmaBf16.Mma(c03, fa0, fb3, scratch);
            c10 = MmaBf16.Mma(c10, fa1, fb0, scratch); c11 = MmaBf16.Mma(c11, fa1, fb1, scratch);
            c12 = MmaBf16.Mma(c12, fa1, fb2, scratch); c13 = MmaBf16.Mma(c13, fa1, fb3, scratch);
            c20 = MmaBf16.Mma(c20, fa2, fb0, scratch); c21 = MmaBf16.Mma(c21, fa2, fb1, scratch);
            c22 = MmaBf16.Mma(c22, fa2, fb2, scratch); c23 = MmaBf16.Mma(c23, fa2, fb3, scratch);
            c30 = MmaBf16.Mma(c30, fa3, fb0, scratch); c31 = MmaBf16.Mma(c31, fa3, fb1, scratch);
            c32 = MmaBf16.Mma(c32, fa3, fb2, scratch); c33 = MmaBf16.Mma(c33, fa3, fb3, scratch);
            if (more)
            {
                int nxt = 1 - cur;
                StoreA(As, s, nxt, t, ra0);
                StoreA(As, s, nxt, t + GroupSize, ra1);
                StoreB(Bs, s, nxt, t, rb0);
                StoreB(Bs, s, nxt, t + GroupSize, rb1);
            }
            // Slice s+1 is visible, and nobody still reads buffer `cur` when the next iteration overwrites it.
            Group.Barrier();
        }

        MatmulMmaIlgpuKernels.StoreWarpTile(c, cOff, row0 + wm + g, col0 + wn + 2 * tg, m, n, store, c00, c01, c02, c03,
            c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33);
    }

    /// <summary>Lane (g, t)'s A fragment of the 16 × 16 tile whose word (row g, columns 2t..2t+1) is at <paramref name="i"/>.</summary>
    private static MmaBf16FragmentA FragmentA(ArrayView<uint> As, int i) => new()
    {
        A0 = As[i],
        A1 = As[i + 8 * PitchWords],
        A2 = As[i + 4],
        A3 = As[i + 8 * PitchWords + 4],
    };

    /// <summary>Lane (g, t)'s B fragment of the 16 × 8 tile whose word (column g, rows 2t..2t+1) is at <paramref name="i"/>.</summary>
    private static MmaBf16FragmentB FragmentB(ArrayView<uint> Bs, int i) => new() { B0 = Bs[i], B1 = Bs[i + 4] };

    /// <summary>A as [m][k] halves: 4 consecutive k of one row are two words; 4 consecutive m are 4 halves, a column.</summary>
    private static void StoreA(ArrayView<uint> As, MatmulParams s, int buffer, int chunk, MmaFloat4 v)
    {
        int o = buffer * ABuffer;
        if (s.TransposeA == 0)
        {
            StorePairs(As, o + (chunk >> 2) * PitchWords + (chunk & 3) * 2, v);
        }
        else
        {
            StoreColumn(As, o * 2 + (chunk & 31) * 4 * Pitch + (chunk >> 5), v);
        }
    }

    /// <summary>B as [n][k] halves: 4 consecutive k of one column (Bᵀ stored) are two words; 4 consecutive n, a column.</summary>
    private static void StoreB(ArrayView<uint> Bs, MatmulParams s, int buffer, int chunk, MmaFloat4 v)
    {
        int o = buffer * BBuffer;
        if (s.TransposeB != 0)
        {
            StorePairs(Bs, o + (chunk >> 2) * PitchWords + (chunk & 3) * 2, v);
        }
        else
        {
            StoreColumn(Bs, o * 2 + (chunk & 31) * 4 * Pitch + (chunk >> 5), v);
        }
    }

    /// <summary>Four consecutive-k values as two words at shared[w], shared[w + 1] (lower k in the low half).</summary>
    private static void StorePairs(ArrayView<uint> shared, int w, MmaFloat4 v)
    {
        shared[w] = MmaBf16.ToBf16(v.X) | (MmaBf16.ToBf16(v.Y) << 16);
        shared[w + 1] = MmaBf16.ToBf16(v.Z) | (MmaBf16.ToBf16(v.W) << 16);
    }

    /// <summary>Four values for consecutive rows at one k: halves h, h + Pitch, h + 2·Pitch, h + 3·Pitch.</summary>
    private static void StoreColumn(ArrayView<uint> shared, int h, MmaFloat4 v)
    {
        var halves = shared.Cast<ushort>();
        halves[h] = (ushort)MmaBf16.ToBf16(v.X);
        halves[h + Pitch] = (ushort)MmaBf16.ToBf16(v.Y);
        halves[h + 2 * Pitch] = (ushort)MmaBf16.ToBf16(v.Z);
        halves[h + 3 * Pitch] = (ushort)MmaBf16.ToBf16(v.W);
    }
}
