using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// One lane's share of a 16 × 8 FP32 accumulator tile of <c>mma.sync.m16n8k8</c> (PTX ISA fragment layout, with
/// g = lane &gt;&gt; 2 and t = lane &amp; 3): C0 = C[g, 2t], C1 = C[g, 2t+1], C2 = C[g+8, 2t], C3 = C[g+8, 2t+1].
/// Public because ILGPU's CPU accelerator emits code that must see it.
/// </summary>
public struct MmaAccumulator
{
    public float C0, C1, C2, C3;
}

/// <summary>One lane's share of the 16 × 8 TF32 A tile (row-major): A0 = A[g, t], A1 = A[g+8, t], A2 = A[g, t+4],
/// A3 = A[g+8, t+4], as TF32 bit patterns.</summary>
public struct MmaFragmentA
{
    public uint A0, A1, A2, A3;
}

/// <summary>One lane's share of the 8 × 8 TF32 B tile (column-major): B0 = B[t, g], B1 = B[t+4, g].</summary>
public struct MmaFragmentB
{
    public uint B0, B1;
}

/// <summary>
/// The TF32 tensor-core step, <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c>, and its emulation.
/// On CUDA (<see cref="CudaAsm.IsSupported"/>: ILGPU turns it into a constant predicate for PTX and ptxas drops the
/// other branch) the instruction is emitted as inline PTX; on any other accelerator (the CPU simulator) the same
/// fragments are multiplied in plain FP32 arithmetic: every lane publishes its 6 fragment registers in a per-warp
/// scratch of shared memory and gathers the 32 operands it needs from the lanes that hold them — so a fragment
/// indexing error on the kernel side gives a wrong product on the simulator too. (Warp shuffles would do the same
/// with 32 exchanges per call; two warp barriers are ~16× cheaper on the simulator.)
/// </summary>
internal static class Mma
{
    /// <summary>Floats of emulation scratch per warp: 32 lanes × (4 A + 2 B registers).</summary>
    public const int ScratchPerWarp = 32 * 6;

    /// <summary>
    /// d = a·b + c for one warp's 16 × 8 × 8 tile; every lane of the warp must call it. <paramref name="scratch"/> is
    /// the warp's <see cref="ScratchPerWarp"/> floats of shared memory, used by the emulation only.
    /// </summary>
    public static MmaAccumulator MmaTf32(MmaAccumulator c, MmaFragmentA a, MmaFragmentB b, ArrayView<float> scratch)
    {
        if (CudaAsm.IsSupported)
        {
            Ref<float> d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
            Input<uint> a0 = a.A0, a1 = a.A1, a2 = a.A2, a3 = a.A3, b0 = b.B0, b1 = b.B1;
            CudaAsm.EmitRef(
                "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
            return new MmaAccumulator { C0 = d0.Value, C1 = d1.Value, C2 = d2.Value, C3 = d3.Value };
        }
        return Emulated(c, a, b, scratch);
    }

    /// <summary>
    /// The fragment product in plain FP32 arithmetic: lane (g, t) needs rows g and g+8 of A (held by lanes 4g..4g+3:
    /// A0..A3 of lane 4g+q are A[g, q], A[g+8, q], A[g, q+4], A[g+8, q+4]) and columns 2t and 2t+1 of B (B0, B1 of
    /// lane 4n+q are B[q, n], B[q+4, n]).
    /// </summary>
    private static MmaAccumulator Emulated(MmaAccumulator c, MmaFragmentA a, MmaFragmentB b, ArrayView<float> scratch)
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        int o = lane * 6;
        scratch[o] = Interop.IntAsFloat(a.A0);
        scratch[o + 1] = Interop.IntAsFloat(a.A1);
        scratch[o + 2] = Interop.IntAsFloat(a.A2);
        scratch[o + 3] = Interop.IntAsFloat(a.A3);
        scratch[o + 4] = Interop.IntAsFloat(b.B0);
        scratch[o + 5] = Interop.IntAsFloat(b.B1);
        Warp.Barrier();
        float d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
        for (int q = 0; q < 4; q++)
        {
            int srcA = (4 * g + q) * 6, srcB0 = (8 * t + q) * 6, srcB1 = (8 * t + 4 + q) * 6;
            float aLoQ = scratch[srcA], aHiQ = scratch[srcA + 1];             // A[g, q], A[g+8, q]
            float aLoQ4 = scratch[srcA + 2], aHiQ4 = scratch[srcA + 3];       // A[g, q+4], A[g+8, q+4]
            float b0Q = scratch[srcB0 + 4], b0Q4 = scratch[srcB0 + 5];        // B[q, 2t], B[q+4, 2t]
            float b1Q = scratch[srcB1 + 4], b1Q4 = scratch[srcB1 + 5];        // B[q, 2t+1], B[q+4, 2t+1]
            d0 += aLoQ * b0Q + aLoQ4 * b0Q4;
            d1 += aLoQ * b1Q + aLoQ4 * b1Q4;
            d2 += aHiQ * b0Q + aHiQ4 * b0Q4;
            d3 += aHiQ * b1Q + aHiQ4 * b1Q4;
        }
        // Nobody overwrites the scratch (next call) before every lane has read it.
        Warp.Barrier();
        return new MmaAccumulator { C0 = d0, C1 = d1, C2 = d2, C3 = d3 };
    }

    /// <summary>
    /// x rounded to TF32 (10 mantissa bits) to nearest, ties away from zero, as a bit pattern: <c>cvt.rna.tf32.f32</c>
    /// on CUDA, the same rounding on bits elsewhere (infinities and NaNs pass through).
    /// </summary>
    public static uint ToTf32(float x)
    {
        if (CudaAsm.IsSupported)
        {
            Output<uint> r = default;
            Input<float> v = x;
            CudaAsm.EmitRef("cvt.rna.tf32.f32 %0, %1;", ref r, ref v);
            return r.Value;
        }
        return RoundTf32Bits(Interop.FloatAsInt(x));
    }

    /// <summary>The rounding of <see cref="ToTf32"/> on an FP32 bit pattern (public for the tests' reference).</summary>
    public static uint RoundTf32Bits(uint bits) =>
        (bits & 0x7F800000u) == 0x7F800000u ? bits : (bits + 0x1000u) & 0xFFFFE000u;
}

/// <summary>Four floats staged between a global load and the shared-memory store.</summary>
public struct MmaFloat4
{
    public float X, Y, Z, W;
}

/// <summary>
/// TF32 tensor-core batched GEMM, C = α·op(A)·op(B) + β·C for every <see cref="MatmulShape"/>: 256 threads (8 warps,
/// 2 × 4) own a 128 × 128 tile of C; each warp a 64 × 32 sub-tile = 4 × 4 <c>m16n8k8</c> tiles (64 accumulators per
/// thread). K is walked in 16-deep slices through two shared-memory buffers: while the warps multiply slice s, each
/// thread's loads of slice s+1 are in flight to registers (register-staged prefetch; no <c>cp.async</c>, which
/// ILGPU 1.5.3 cannot address shared memory for), then stored, rounded to TF32 once, into the other buffer — one
/// barrier per slice. Shared rows are padded (A: 16+4 words, B: 128+8 words) so every fragment load of a warp hits
/// 32 distinct banks. Loads along the stored-contiguous dimension use 4 consecutive floats per thread, one 128-bit
/// load where the host says the rows are aligned quads (<see cref="MatmulIlgpuKernels.Quad"/>); out-of-range
/// rows/columns/k are zero-filled and stores guarded, so edge tiles need no fallback.
/// </summary>
internal static class MatmulMmaIlgpuKernels
{
    public const int TileM = 128, TileN = 128, KTile = 16, GroupSize = 256;
    private const int LdA = KTile + 4, LdB = TileN + 8;
    private const int ABuffer = TileM * LdA, BBuffer = KTile * LdB;

    /// <summary>Grid: TilesM·TilesN·batch groups of 256 threads (tiles of 128 × 128). C unread when β = 0.</summary>
    [GpuKernel(Hot = true)]
    public static void MatmulMma(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s) =>
        Gemm(a, b, c, s, new PlainGemmStore(s.Alpha, s.Beta));

    /// <summary>
    /// A linear layer on tensor cores, y = act(x·W + bias), the bias and activation applied as each accumulator is
    /// stored (<see cref="LinearGemmStore"/>): c is y for the identity, else the pre-activation x·W.
    /// </summary>
    [GpuKernel(Hot = true)]
    public static void MatmulMmaLinear(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s,
        ArrayView<float> bias, ArrayView<float> y, ActivationShape epilogue) =>
        Gemm(a, b, c, s, new LinearGemmStore(bias, y, epilogue));

    /// <summary>
    /// A linear layer closing a gated residual branch on tensor cores (<see cref="GatedGemmStore"/>, as
    /// <see cref="MatmulIlgpuKernels.MatmulGated"/>): c = u = x·W + bias and y = residual + gate·u.
    /// </summary>
    [GpuKernel(Hot = true)]
    public static void MatmulMmaGated(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s,
        ArrayView<float> bias, int hasBias, ArrayView<float> residual, ArrayView<float> gate, ArrayView<float> y, int tokens) =>
        Gemm(a, b, c, s, new GatedGemmStore(bias, hasBias, residual, gate, y, s.N, tokens));

    private static void Gemm<TStore>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s, TStore store)
        where TStore : struct, IGemmStore
    {
        var As = SharedMemory.Allocate<uint>(2 * ABuffer);
        var Bs = SharedMemory.Allocate<uint>(2 * BBuffer);
        // The emulation's exchange buffer (unreferenced on CUDA, where the mma branch is the only one left).
        var scratchAll = SharedMemory.Allocate<float>(GroupSize / 32 * Mma.ScratchPerWarp);
        int t = Group.IdxX, grid = Grid.IdxX;
        int m = s.M, n = s.N, k = s.K;
        var at = new GemmTile(s, grid, TileM, TileN);
        int row0 = at.Row0, col0 = at.Col0, aOff = at.AOff, bOff = at.BOff, cOff = at.COff;
        int lane = t & 31, warp = t >> 5;
        int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
        int g = lane >> 2, tg = lane & 3;
        var scratch = scratchAll.SubView(warp * Mma.ScratchPerWarp, Mma.ScratchPerWarp);

        MmaAccumulator c00 = default, c01 = default, c02 = default, c03 = default;
        MmaAccumulator c10 = default, c11 = default, c12 = default, c13 = default;
        MmaAccumulator c20 = default, c21 = default, c22 = default, c23 = default;
        MmaAccumulator c30 = default, c31 = default, c32 = default, c33 = default;

        int kTiles = (k + KTile - 1) / KTile;
        var ra0 = LoadA(a, s, aOff, row0, 0, t);
        var ra1 = LoadA(a, s, aOff, row0, 0, t + GroupSize);
        var rb0 = LoadB(b, s, bOff, col0, 0, t);
        var rb1 = LoadB(b, s, bOff, col0, 0, t + GroupSize);
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
                ra0 = LoadA(a, s, aOff, row0, k0, t);
                ra1 = LoadA(a, s, aOff, row0, k0, t + GroupSize);
                rb0 = LoadB(b, s, bOff, col0, k0, t);
                rb1 = LoadB(b, s, bOff, col0, k0, t + GroupSize);
            }
            int aBase = cur * ABuffer, bBase = cur * BBuffer;
            for (int ks = 0; ks < KTile; ks += 8)
            {
                var fa0 = FragmentA(As, aBase + (wm + g) * LdA + ks + tg);
                var fa1 = FragmentA(As, aBase + (wm + 16 + g) * LdA + ks + tg);
                var fa2 = FragmentA(As, aBase + (wm + 32 + g) * LdA + ks + tg);
                var fa3 = FragmentA(As, aBase + (wm + 48 + g) * LdA + ks + tg);
                var fb0 = FragmentB(Bs, bBase + (ks + tg) * LdB + wn + g);
                var fb1 = FragmentB(Bs, bBase + (ks + tg) * LdB + wn + 8 + g);
                var fb2 = FragmentB(Bs, bBase + (ks + tg) * LdB + wn + 16 + g);
                var fb3 = FragmentB(Bs, bBase + (ks + tg) * LdB + wn + 24 + g);
                c00 = Mma.MmaTf32(c00, fa0, fb0, scratch); c01 = Mma.MmaTf32(c01, fa0, fb1, scratch);
                c02 = Mma.MmaTf32(c02, fa0, fb2, scratch); c03 = Mma.MmaTf32(c03, fa0, fb3, scratch);
                c10 = Mma.MmaTf32(c10, fa1, fb0, scratch); c11 = Mma.MmaTf32(c11, fa1, fb1, scratch);
                c12 = Mma.MmaTf32(c12, fa1, fb2, scratch); c13 = Mma.MmaTf32(c13, fa1, fb3, scratch);
                c20 = Mma.MmaTf32(c20, fa2, fb0, scratch); c21 = Mma.MmaTf32(c21, fa2, fb1, scratch);
                c22 = Mma.MmaTf32(c22, fa2, fb2, scratch); c23 = Mma.MmaTf32(c23, fa2, fb3, scratch);
                c30 = Mma.MmaTf32(c30, fa3, fb0, scratch); c31 = Mma.MmaTf32(c31, fa3, fb1, scratch);
                c32 = Mma.MmaTf32(c32, fa3, fb2, scratch); c33 = Mma.MmaTf32(c33, fa3, fb3, scratch);
            }
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

        StoreWarpTile(c, cOff, row0 + wm + g, col0 + wn + 2 * tg, m, n, store, c00, c01, c02, c03, c10, c11, c12, c13,
            c20, c21, c22, c23, c30, c31, c32, c33);
    }

    /// <summary>Lane (g, t)'s A fragment of the 16 × 8 tile whose element [g, t] is at <paramref name="i"/>.</summary>
    private static MmaFragmentA FragmentA(ArrayView<uint> As, int i) => new()
    {
        A0 = As[i],
        A1 = As[i + 8 * LdA],
        A2 = As[i + 4],
        A3 = As[i + 8 * LdA + 4],
    };

    /// <summary>Lane (g, t)'s B fragment of the 8 × 8 tile whose element [t, g] is at <paramref name="i"/>.</summary>
    private static MmaFragmentB FragmentB(ArrayView<uint> Bs, int i) => new() { B0 = Bs[i], B1 = Bs[i + 4 * LdB] };

    /// <summary>
    /// Chunk <paramref name="chunk"/> (of 512) of the 128 × 16 op(A) slice at k0: 4 consecutive stored floats —
    /// along k (op(A)[r, kq..kq+3]) for A as stored, along m (op(A)[mq..mq+3, kk]) for transposed A.
    /// </summary>
    internal static MmaFloat4 LoadA(ArrayView<float> a, MatmulParams s, int aOff, int row0, int k0, int chunk)
    {
        int m = s.M, k = s.K;
        if (s.TransposeA == 0)
        {
            int r = row0 + (chunk >> 2), kq = k0 + (chunk & 3) * 4;
            return r < m ? MatmulIlgpuKernels.Quad(a, aOff + r * k, kq, k, s.QuadA) : default;
        }
        int kk = k0 + (chunk >> 5), mq = row0 + (chunk & 31) * 4;
        return kk < k ? MatmulIlgpuKernels.Quad(a, aOff + kk * m, mq, m, s.QuadA) : default;
    }

    /// <summary>Chunk of the 16 × 128 op(B) slice: along n for B as stored, along k for transposed B.</summary>
    internal static MmaFloat4 LoadB(ArrayView<float> b, MatmulParams s, int bOff, int col0, int k0, int chunk)
    {
        int n = s.N, k = s.K;
        if (s.TransposeB == 0)
        {
            int kk = k0 + (chunk >> 5), nq = col0 + (chunk & 31) * 4;
            return kk < k ? MatmulIlgpuKernels.Quad(b, bOff + kk * n, nq, n, s.QuadB) : default;
        }
        int c = col0 + (chunk >> 2), kq = k0 + (chunk & 3) * 4;
        return c < n ? MatmulIlgpuKernels.Quad(b, bOff + c * k, kq, k, s.QuadB) : default;
    }

    private static void StoreA(ArrayView<uint> As, MatmulParams s, int buffer, int chunk, MmaFloat4 v)
    {
        int o = buffer * ABuffer;
        // Row-major A: As[r, kq..kq+3], consecutive words; transposed A: As[mq..mq+3, kk], a column of stride LdA.
        if (s.TransposeA == 0)
        {
            StoreQuad(As, o + (chunk >> 2) * LdA + (chunk & 3) * 4, 1, v);
        }
        else
        {
            StoreQuad(As, o + (chunk & 31) * 4 * LdA + (chunk >> 5), LdA, v);
        }
    }

    private static void StoreB(ArrayView<uint> Bs, MatmulParams s, int buffer, int chunk, MmaFloat4 v)
    {
        int o = buffer * BBuffer;
        // Row-major B: Bs[kk, nq..nq+3], consecutive words; transposed B: Bs[kq..kq+3, c], a column of stride LdB.
        if (s.TransposeB == 0)
        {
            StoreQuad(Bs, o + (chunk >> 5) * LdB + (chunk & 31) * 4, 1, v);
        }
        else
        {
            StoreQuad(Bs, o + (chunk & 3) * 4 * LdB + (chunk >> 2), LdB, v);
        }
    }

    /// <summary>The four staged floats, rounded to TF32, at shared[i], shared[i + step], … (step 1: a row, else a column).</summary>
    private static void StoreQuad(ArrayView<uint> shared, int i, int step, MmaFloat4 v)
    {
        shared[i] = Mma.ToTf32(v.X);
        shared[i + step] = Mma.ToTf32(v.Y);
        shared[i + 2 * step] = Mma.ToTf32(v.Z);
        shared[i + 3 * step] = Mma.ToTf32(v.W);
    }

    /// <summary>
    /// The lane's share of its warp's 64 × 32 tile: accumulator cIJ covers rows r0 + 16·I (and + 8), columns
    /// c0 + 8·J (and + 1) — the m16n8 accumulator layout every tensor-core GEMM here uses.
    /// </summary>
    internal static void StoreWarpTile<TStore>(ArrayView<float> c, int cOff, int r0, int c0, int m, int n, TStore store,
        MmaAccumulator c00, MmaAccumulator c01, MmaAccumulator c02, MmaAccumulator c03,
        MmaAccumulator c10, MmaAccumulator c11, MmaAccumulator c12, MmaAccumulator c13,
        MmaAccumulator c20, MmaAccumulator c21, MmaAccumulator c22, MmaAccumulator c23,
        MmaAccumulator c30, MmaAccumulator c31, MmaAccumulator c32, MmaAccumulator c33) where TStore : struct, IGemmStore
    {
        StoreRow(c, cOff, r0, c0, m, n, store, c00, c01, c02, c03);
        StoreRow(c, cOff, r0 + 16, c0, m, n, store, c10, c11, c12, c13);
        StoreRow(c, cOff, r0 + 32, c0, m, n, store, c20, c21, c22, c23);
        StoreRow(c, cOff, r0 + 48, c0, m, n, store, c30, c31, c32, c33);
    }

    private static void StoreRow<TStore>(ArrayView<float> c, int cOff, int r, int c0, int m, int n, TStore store,
        MmaAccumulator v0, MmaAccumulator v1, MmaAccumulator v2, MmaAccumulator v3) where TStore : struct, IGemmStore
    {
        Store(c, cOff, r, c0, m, n, store, v0);
        Store(c, cOff, r, c0 + 8, m, n, store, v1);
        Store(c, cOff, r, c0 + 16, m, n, store, v2);
        Store(c, cOff, r, c0 + 24, m, n, store, v3);
    }

    /// <summary>The lane's 2 × 2 share of one 16 × 8 accumulator tile (rows r, r+8; columns col, col+1).</summary>
    private static void Store<TStore>(ArrayView<float> c, int cOff, int r, int col, int m, int n, TStore store,
        MmaAccumulator v) where TStore : struct, IGemmStore
    {
        Store1(c, cOff, r, col, m, n, store, v.C0);
        Store1(c, cOff, r, col + 1, m, n, store, v.C1);
        Store1(c, cOff, r + 8, col, m, n, store, v.C2);
        Store1(c, cOff, r + 8, col + 1, m, n, store, v.C3);
    }

    private static void Store1<TStore>(ArrayView<float> c, int cOff, int r, int col, int m, int n, TStore store, float v)
        where TStore : struct, IGemmStore
    {
        if (r < m && col < n)
        {
            store.Store(c, cOff + r * n + col, col, v);
        }
    }
}
