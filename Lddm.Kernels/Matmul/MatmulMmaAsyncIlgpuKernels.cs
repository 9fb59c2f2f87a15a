using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// <c>cp.async</c> (sm_80+) through inline PTX, CUDA only. Inline PTX takes registers, not views, and ILGPU 1.5.3
/// turns no pointer into an integer inside a kernel (<c>Unsafe.AsPointer</c>: "Not supported intrinsic type";
/// <c>fixed</c>, i.e. <c>conv.u</c> on a pointer: a NullReferenceException in the frontend's conversion;
/// <c>LoadEffectiveAddressAsPtr</c>: host only). So the global source is the host's device address of the view
/// (<see cref="MatmulParams.AAddress"/>) plus a computed offset, and the shared destination comes from the one place
/// where ILGPU casts a pointer to an integer: <c>ArrayView.AlignTo</c>, lowered to
/// <c>min(AlignmentOffset((int)ptr, w) / size, length)</c> on the view's own shared-window pointer.
/// </summary>
internal static class AsyncCopy
{
    /// <summary>
    /// The shared-window address of <paramref name="view"/>'s first byte: with w a power of two above every shared
    /// address (2¹⁸ = 256 KiB &gt; the 228 KiB of sm_90) and p the address, <c>AlignTo(w)</c>'s prefix over a w-byte
    /// view is (w − p) mod w bytes, so p = (w − prefix) mod w. w is read at run time (the group size, 256, × 2¹⁰), not
    /// a constant: with a constant, ILGPU's pointer-alignment analysis raises the allocation's <c>.align</c> to w. The
    /// w-byte view exceeds the allocation; it is only measured, never read (ILGPU checks view bounds only in builds
    /// with assertions). Needs 256 threads per group.
    /// </summary>
    public static uint SharedAddress(ArrayView<byte> view)
    {
        int w = Group.DimX << 10;
        var prefix = view.SubView(0, w).AlignTo(w).Item1;
        return (uint)((w - prefix.IntLength) & (w - 1));
    }

    /// <summary>
    /// 16 bytes from global address <paramref name="source"/> to shared address <paramref name="shared"/>, or 16 zero
    /// bytes when not <paramref name="inRange"/> (src-size 0; the source, then the buffer's start, is not read). Both
    /// addresses must be 16-byte aligned. Operands by value: no local variable
    /// (<see cref="MatmulMmaAsyncIlgpuKernels"/> says why that matters).
    /// </summary>
    public static void Copy(uint shared, ulong source, bool inRange) =>
        CudaAsm.Emit("cp.async.cg.shared.global [%0], [%1], 16, %2;", shared, source, inRange ? 16u : 0u);

    /// <summary>Closes this thread's outstanding copies into one group.</summary>
    public static void Commit() => CudaAsm.Emit("cp.async.commit_group;");

    /// <summary>Waits until all of this thread's committed copies have landed (a barrier then shares them).</summary>
    public static void WaitAll() => CudaAsm.Emit("cp.async.wait_group 0;");
}

/// <summary>
/// The TF32 tensor-core GEMM of <see cref="MatmulMmaIlgpuKernels"/> (same 128 × 128 block, 64 × 32 warp tiles, 16-deep
/// slices, padded shared layout, <c>m16n8k8</c> fragment layout and epilogue) with the global → shared tile loads done
/// by <c>cp.async.cg</c> (16 bytes, zero-filled past the edges), double-buffered: slice s+1 is copied into the other
/// buffer while the warps multiply slice s, then <c>cp.async.wait_group 0</c> and one barrier per slice — no staging
/// registers, no shared stores by the threads. CUDA only (sm_80+), and only for A and B as stored, both quad-aligned
/// (<see cref="MatmulParams.AAddress"/>: the host passes the device addresses then, and picks this kernel); on any
/// other accelerator the body is empty and the host never launches it.
/// <para>
/// Shared memory holds raw FP32 bits, so the fragments are rounded to TF32 (<c>cvt.rna.tf32.f32</c>) as they are
/// loaded — the rounding the register-staged kernel applies on its way into shared memory, so the products are the
/// same. Accumulators and fragments live in PTX registers declared by the kernel's own inline PTX
/// (<c>%lddm_c0..63</c>, <c>%lddm_a0..15</c>, <c>%lddm_b0..7</c>), and every inline statement in the main loop takes
/// its operands by value: ILGPU passes <c>EmitRef</c>/<c>out</c> operands through local variables, which ptxas 11.8
/// never promotes to registers in a function that contains <c>cp.async</c> (checked: the same kernel with the
/// <c>EmitRef</c> <c>mma</c> of <see cref="Mma.MmaTf32"/> kept its 208 locals, 864 bytes of stack, with loads and
/// stores of each in the inner loop). The 64 accumulators leave through 64 <c>out</c> reads once, at the end.
/// </para>
/// </summary>
internal static class MatmulMmaAsyncIlgpuKernels
{
    private const int TileM = MatmulMmaIlgpuKernels.TileM, TileN = MatmulMmaIlgpuKernels.TileN;
    private const int KTile = MatmulMmaIlgpuKernels.KTile, GroupSize = MatmulMmaIlgpuKernels.GroupSize;
    private const int LdA = KTile + 4, LdB = TileN + 8;
    private const int ABuffer = TileM * LdA, BBuffer = KTile * LdB;

    /// <summary>C = α·A·B + β·C with cp.async tile loads (grid as <see cref="MatmulMmaIlgpuKernels.MatmulMma"/>).</summary>
    [GpuKernel(Hot = true)]
    public static void MatmulMmaAsync(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s) =>
        Gemm(a, b, c, s, new PlainGemmStore(s.Alpha, s.Beta));

    /// <summary>y = act(x·W + bias) with cp.async tile loads (as <see cref="MatmulMmaIlgpuKernels.MatmulMmaLinear"/>).</summary>
    [GpuKernel(Hot = true)]
    public static void MatmulMmaAsyncLinear(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s,
        ArrayView<float> bias, ArrayView<float> y, ActivationShape epilogue) =>
        Gemm(a, b, c, s, new LinearGemmStore(bias, y, epilogue));

    /// <summary>u = x·W + bias, y = residual + gate·u with cp.async tile loads (as <see cref="MatmulMmaIlgpuKernels.MatmulMmaGated"/>).</summary>
    [GpuKernel(Hot = true)]
    public static void MatmulMmaAsyncGated(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s,
        ArrayView<float> bias, int hasBias, ArrayView<float> residual, ArrayView<float> gate, ArrayView<float> y, int tokens) =>
        Gemm(a, b, c, s, new GatedGemmStore(bias, hasBias, residual, gate, y, s.N, tokens));

    private static void Gemm<TStore>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s, TStore store)
        where TStore : struct, IGemmStore
    {
        if (!CudaAsm.IsSupported)
        {
            return;
        }
        // The accumulators, zeroed, and the fragment registers.
        CudaAsm.Emit(
            ".reg .f32 %%lddm_c<64>; .reg .b32 %%lddm_a<16>; .reg .b32 %%lddm_b<8>; " +
            "mov.b32 %%lddm_c0, 0; mov.b32 %%lddm_c1, 0; mov.b32 %%lddm_c2, 0; mov.b32 %%lddm_c3, 0; mov.b32 %%lddm_c4, 0; mov.b32 %%lddm_c5, 0; mov.b32 %%lddm_c6, 0; mov.b32 %%lddm_c7, 0; " +
            "mov.b32 %%lddm_c8, 0; mov.b32 %%lddm_c9, 0; mov.b32 %%lddm_c10, 0; mov.b32 %%lddm_c11, 0; mov.b32 %%lddm_c12, 0; mov.b32 %%lddm_c13, 0; mov.b32 %%lddm_c14, 0; mov.b32 %%lddm_c15, 0; " +
            "mov.b32 %%lddm_c16, 0; mov.b32 %%lddm_c17, 0; mov.b32 %%lddm_c18, 0; mov.b32 %%lddm_c19, 0; mov.b32 %%lddm_c20, 0; mov.b32 %%lddm_c21, 0; mov.b32 %%lddm_c22, 0; mov.b32 %%lddm_c23, 0; " +
            "mov.b32 %%lddm_c24, 0; mov.b32 %%lddm_c25, 0; mov.b32 %%lddm_c26, 0; mov.b32 %%lddm_c27, 0; mov.b32 %%lddm_c28, 0; mov.b32 %%lddm_c29, 0; mov.b32 %%lddm_c30, 0; mov.b32 %%lddm_c31, 0; " +
            "mov.b32 %%lddm_c32, 0; mov.b32 %%lddm_c33, 0; mov.b32 %%lddm_c34, 0; mov.b32 %%lddm_c35, 0; mov.b32 %%lddm_c36, 0; mov.b32 %%lddm_c37, 0; mov.b32 %%lddm_c38, 0; mov.b32 %%lddm_c39, 0; " +
            "mov.b32 %%lddm_c40, 0; mov.b32 %%lddm_c41, 0; mov.b32 %%lddm_c42, 0; mov.b32 %%lddm_c43, 0; mov.b32 %%lddm_c44, 0; mov.b32 %%lddm_c45, 0; mov.b32 %%lddm_c46, 0; mov.b32 %%lddm_c47, 0; " +
            "mov.b32 %%lddm_c48, 0; mov.b32 %%lddm_c49, 0; mov.b32 %%lddm_c50, 0; mov.b32 %%lddm_c51, 0; mov.b32 %%lddm_c52, 0; mov.b32 %%lddm_c53, 0; mov.b32 %%lddm_c54, 0; mov.b32 %%lddm_c55, 0; " +
            "mov.b32 %%lddm_c56, 0; mov.b32 %%lddm_c57, 0; mov.b32 %%lddm_c58, 0; mov.b32 %%lddm_c59, 0; mov.b32 %%lddm_c60, 0; mov.b32 %%lddm_c61, 0; mov.b32 %%lddm_c62, 0; mov.b32 %%lddm_c63, 0;");
        // Quads: `.shared .align 16`, as the 16-byte copies need (ABuffer, BBuffer, LdA, LdB are multiples of 4).
        var as4 = SharedMemory.Allocate<MmaFloat4>(2 * ABuffer / 4);
        var bs4 = SharedMemory.Allocate<MmaFloat4>(2 * BBuffer / 4);
        var As = as4.Cast<float>();
        var Bs = bs4.Cast<float>();
        uint asBase = AsyncCopy.SharedAddress(as4.Cast<byte>()), bsBase = AsyncCopy.SharedAddress(bs4.Cast<byte>());
        int t = Group.IdxX, grid = Grid.IdxX;
        int m = s.M, n = s.N, k = s.K;
        var at = new GemmTile(s, grid, TileM, TileN);
        int row0 = at.Row0, col0 = at.Col0, aOff = at.AOff, bOff = at.BOff, cOff = at.COff;
        int lane = t & 31, warp = t >> 5;
        int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
        int g = lane >> 2, tg = lane & 3;

        int kTiles = (k + KTile - 1) / KTile;
        // The thread's 4 copies per slice, set up once: A chunks t and t + 256 (rows r, r + 64; k offset kqA), B chunks
        // t and t + 256 (k rows kkB, kkB + 8; columns nq..nq+3). Per slice the sources move KTile floats along k (A) or
        // KTile rows (B), and only the k test changes.
        var a0 = new ChunkCopy(s.AAddress, aOff + (long)(row0 + (t >> 2)) * k + (t & 3) * 4, KTile * 4L,
            asBase + (uint)((t >> 2) * LdA + (t & 3) * 4) * 4, row0 + (t >> 2) < m, (t & 3) * 4);
        var a1 = new ChunkCopy(s.AAddress, aOff + (long)(row0 + 64 + (t >> 2)) * k + (t & 3) * 4, KTile * 4L,
            asBase + (uint)((64 + (t >> 2)) * LdA + (t & 3) * 4) * 4, row0 + 64 + (t >> 2) < m, (t & 3) * 4);
        int nq = col0 + (t & 31) * 4;
        var b0 = new ChunkCopy(s.BAddress, bOff + (long)(t >> 5) * n + nq, KTile * 4L * n,
            bsBase + (uint)((t >> 5) * LdB + (t & 31) * 4) * 4, nq < n, t >> 5);
        var b1 = new ChunkCopy(s.BAddress, bOff + (long)(8 + (t >> 5)) * n + nq, KTile * 4L * n,
            bsBase + (uint)((8 + (t >> 5)) * LdB + (t & 31) * 4) * 4, nq < n, 8 + (t >> 5));
        a0.Issue(0, 0, k, 0);
        a1.Issue(0, 0, k, 0);
        b0.Issue(0, 0, k, 0);
        b1.Issue(0, 0, k, 0);
        AsyncCopy.Commit();
        AsyncCopy.WaitAll();
        Group.Barrier();
        for (int kt = 0; kt < kTiles; kt++)
        {
            int cur = kt & 1;
            bool more = kt + 1 < kTiles;
            if (more)
            {
                // Slice s+1 into the other buffer, whose last reads were before the previous barrier.
                int k0 = (kt + 1) * KTile;
                uint aShift = (uint)((1 - cur) * ABuffer * 4), bShift = (uint)((1 - cur) * BBuffer * 4);
                a0.Issue(kt + 1, k0, k, aShift);
                a1.Issue(kt + 1, k0, k, aShift);
                b0.Issue(kt + 1, k0, k, bShift);
                b1.Issue(kt + 1, k0, k, bShift);
                AsyncCopy.Commit();
            }
            int aBase = cur * ABuffer, bBase = cur * BBuffer;
            for (int ks = 0; ks < KTile; ks += 8)
            {
                int ia = aBase + (wm + g) * LdA + ks + tg, ib = bBase + (ks + tg) * LdB + wn + g;
                FragmentA0(As, ia);
                FragmentA1(As, ia + 16 * LdA);
                FragmentA2(As, ia + 32 * LdA);
                FragmentA3(As, ia + 48 * LdA);
                FragmentB0(Bs, ib);
                FragmentB1(Bs, ib + 8);
                FragmentB2(Bs, ib + 16);
                FragmentB3(Bs, ib + 24);
                Mma00(); Mma01(); Mma02(); Mma03();
                Mma10(); Mma11(); Mma12(); Mma13();
                Mma20(); Mma21(); Mma22(); Mma23();
                Mma30(); Mma31(); Mma32(); Mma33();
            }
            if (more)
            {
                // This thread's copies of slice s+1 have landed; the barrier shows everyone's.
                AsyncCopy.WaitAll();
            }
            // Slice s+1 is visible, and nobody still reads buffer `cur` when the next iteration overwrites it.
            Group.Barrier();
        }

        MatmulMmaIlgpuKernels.StoreWarpTile(c, cOff, row0 + wm + g, col0 + wn + 2 * tg, m, n, store,
            Accumulator0(), Accumulator1(), Accumulator2(), Accumulator3(),
            Accumulator4(), Accumulator5(), Accumulator6(), Accumulator7(),
            Accumulator8(), Accumulator9(), Accumulator10(), Accumulator11(),
            Accumulator12(), Accumulator13(), Accumulator14(), Accumulator15());
    }

    /// <summary>
    /// One of a thread's 16-byte copies per slice: the source of slice 0 (global floats <c>index0</c> of the buffer
    /// at <c>address</c>, <c>step</c> bytes further per slice), the shared destination in buffer 0, whether the
    /// row or column is inside the matrix, and the chunk's k offset within a slice (its k test:
    /// k0 + <c>kOffset</c> &lt; k; A's and B's quads never straddle k since both are quad-aligned here).
    /// </summary>
    private readonly struct ChunkCopy(ulong address, long index0, long step, uint shared, bool inside, int kOffset)
    {
        private readonly ulong _source = address + (ulong)index0 * 4, _address = address;
        private readonly long _step = step;
        private readonly uint _shared = shared;
        private readonly bool _inside = inside;
        private readonly int _kOffset = kOffset;

        /// <summary>cp.async of slice <paramref name="slice"/> (at k0) into the buffer <paramref name="shift"/> bytes on.</summary>
        public void Issue(int slice, int k0, int k, uint shift)
        {
            bool inRange = _inside && k0 + _kOffset < k;
            AsyncCopy.Copy(_shared + shift, inRange ? _source + (ulong)(slice * _step) : _address, inRange);
        }
    }

    /// <summary>Fragment A of row tile 0 (A[g, t], A[g+8, t], A[g, t+4], A[g+8, t+4] from element [g, t] at i), rounded, into %lddm_a0..3.</summary>
    private static void FragmentA0(ArrayView<float> As, int i) =>
        CudaAsm.Emit("cvt.rna.tf32.f32 %%lddm_a0, %0; cvt.rna.tf32.f32 %%lddm_a1, %1; cvt.rna.tf32.f32 %%lddm_a2, %2; cvt.rna.tf32.f32 %%lddm_a3, %3;",
            As[i], As[i + 8 * LdA], As[i + 4], As[i + 8 * LdA + 4]);

    /// <summary>Fragment A of row tile 1 (A[g, t], A[g+8, t], A[g, t+4], A[g+8, t+4] from element [g, t] at i), rounded, into %lddm_a4..7.</summary>
    private static void FragmentA1(ArrayView<float> As, int i) =>
        CudaAsm.Emit("cvt.rna.tf32.f32 %%lddm_a4, %0; cvt.rna.tf32.f32 %%lddm_a5, %1; cvt.rna.tf32.f32 %%lddm_a6, %2; cvt.rna.tf32.f32 %%lddm_a7, %3;",
            As[i], As[i + 8 * LdA], As[i + 4], As[i + 8 * LdA + 4]);

    /// <summary>Fragment A of row tile 2 (A[g, t], A[g+8, t], A[g, t+4], A[g+8, t+4] from element [g, t] at i), rounded, into %lddm_a8..11.</summary>
    private static void FragmentA2(ArrayView<float> As, int i) =>
        CudaAsm.Emit("cvt.rna.tf32.f32 %%lddm_a8, %0; cvt.rna.tf32.f32 %%lddm_a9, %1; cvt.rna.tf32.f32 %%lddm_a10, %2; cvt.rna.tf32.f32 %%lddm_a11, %3;",
            As[i], As[i + 8 * LdA], As[i + 4], As[i + 8 * LdA + 4]);

    /// <summary>Fragment A of row tile 3 (A[g, t], A[g+8, t], A[g, t+4], A[g+8, t+4] from element [g, t] at i), rounded, into %lddm_a12..15.</summary>
    private static void FragmentA3(ArrayView<float> As, int i) =>
        CudaAsm.Emit("cvt.rna.tf32.f32 %%lddm_a12, %0; cvt.rna.tf32.f32 %%lddm_a13, %1; cvt.rna.tf32.f32 %%lddm_a14, %2; cvt.rna.tf32.f32 %%lddm_a15, %3;",
            As[i], As[i + 8 * LdA], As[i + 4], As[i + 8 * LdA + 4]);

    /// <summary>Fragment B of column tile 0 (B[t, g], B[t+4, g] from element [t, g] at i), rounded, into %lddm_b0..1.</summary>
    private static void FragmentB0(ArrayView<float> Bs, int i) =>
        CudaAsm.Emit("cvt.rna.tf32.f32 %%lddm_b0, %0; cvt.rna.tf32.f32 %%lddm_b1, %1;", Bs[i], Bs[i + 4 * LdB]);

    /// <summary>Fragment B of column tile 1 (B[t, g], B[t+4, g] from element [t, g] at i), rounded, into %lddm_b2..3.</summary>
    private static void FragmentB1(ArrayView<float> Bs, int i) =>
        CudaAsm.Emit("cvt.rna.tf32.f32 %%lddm_b2, %0; cvt.rna.tf32.f32 %%lddm_b3, %1;", Bs[i], Bs[i + 4 * LdB]);

    /// <summary>Fragment B of column tile 2 (B[t, g], B[t+4, g] from element [t, g] at i), rounded, into %lddm_b4..5.</summary>
    private static void FragmentB2(ArrayView<float> Bs, int i) =>
        CudaAsm.Emit("cvt.rna.tf32.f32 %%lddm_b4, %0; cvt.rna.tf32.f32 %%lddm_b5, %1;", Bs[i], Bs[i + 4 * LdB]);

    /// <summary>Fragment B of column tile 3 (B[t, g], B[t+4, g] from element [t, g] at i), rounded, into %lddm_b6..7.</summary>
    private static void FragmentB3(ArrayView<float> Bs, int i) =>
        CudaAsm.Emit("cvt.rna.tf32.f32 %%lddm_b6, %0; cvt.rna.tf32.f32 %%lddm_b7, %1;", Bs[i], Bs[i + 4 * LdB]);

    private static void Mma00() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c0, %%lddm_c1, %%lddm_c2, %%lddm_c3}, {%%lddm_a0, %%lddm_a1, %%lddm_a2, %%lddm_a3}, {%%lddm_b0, %%lddm_b1}, {%%lddm_c0, %%lddm_c1, %%lddm_c2, %%lddm_c3};");

    private static void Mma01() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c4, %%lddm_c5, %%lddm_c6, %%lddm_c7}, {%%lddm_a0, %%lddm_a1, %%lddm_a2, %%lddm_a3}, {%%lddm_b2, %%lddm_b3}, {%%lddm_c4, %%lddm_c5, %%lddm_c6, %%lddm_c7};");

    private static void Mma02() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c8, %%lddm_c9, %%lddm_c10, %%lddm_c11}, {%%lddm_a0, %%lddm_a1, %%lddm_a2, %%lddm_a3}, {%%lddm_b4, %%lddm_b5}, {%%lddm_c8, %%lddm_c9, %%lddm_c10, %%lddm_c11};");

    private static void Mma03() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c12, %%lddm_c13, %%lddm_c14, %%lddm_c15}, {%%lddm_a0, %%lddm_a1, %%lddm_a2, %%lddm_a3}, {%%lddm_b6, %%lddm_b7}, {%%lddm_c12, %%lddm_c13, %%lddm_c14, %%lddm_c15};");

    private static void Mma10() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c16, %%lddm_c17, %%lddm_c18, %%lddm_c19}, {%%lddm_a4, %%lddm_a5, %%lddm_a6, %%lddm_a7}, {%%lddm_b0, %%lddm_b1}, {%%lddm_c16, %%lddm_c17, %%lddm_c18, %%lddm_c19};");

    private static void Mma11() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c20, %%lddm_c21, %%lddm_c22, %%lddm_c23}, {%%lddm_a4, %%lddm_a5, %%lddm_a6, %%lddm_a7}, {%%lddm_b2, %%lddm_b3}, {%%lddm_c20, %%lddm_c21, %%lddm_c22, %%lddm_c23};");

    private static void Mma12() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c24, %%lddm_c25, %%lddm_c26, %%lddm_c27}, {%%lddm_a4, %%lddm_a5, %%lddm_a6, %%lddm_a7}, {%%lddm_b4, %%lddm_b5}, {%%lddm_c24, %%lddm_c25, %%lddm_c26, %%lddm_c27};");

    private static void Mma13() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c28, %%lddm_c29, %%lddm_c30, %%lddm_c31}, {%%lddm_a4, %%lddm_a5, %%lddm_a6, %%lddm_a7}, {%%lddm_b6, %%lddm_b7}, {%%lddm_c28, %%lddm_c29, %%lddm_c30, %%lddm_c31};");

    private static void Mma20() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c32, %%lddm_c33, %%lddm_c34, %%lddm_c35}, {%%lddm_a8, %%lddm_a9, %%lddm_a10, %%lddm_a11}, {%%lddm_b0, %%lddm_b1}, {%%lddm_c32, %%lddm_c33, %%lddm_c34, %%lddm_c35};");

    private static void Mma21() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c36, %%lddm_c37, %%lddm_c38, %%lddm_c39}, {%%lddm_a8, %%lddm_a9, %%lddm_a10, %%lddm_a11}, {%%lddm_b2, %%lddm_b3}, {%%lddm_c36, %%lddm_c37, %%lddm_c38, %%lddm_c39};");

    private static void Mma22() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c40, %%lddm_c41, %%lddm_c42, %%lddm_c43}, {%%lddm_a8, %%lddm_a9, %%lddm_a10, %%lddm_a11}, {%%lddm_b4, %%lddm_b5}, {%%lddm_c40, %%lddm_c41, %%lddm_c42, %%lddm_c43};");

    private static void Mma23() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c44, %%lddm_c45, %%lddm_c46, %%lddm_c47}, {%%lddm_a8, %%lddm_a9, %%lddm_a10, %%lddm_a11}, {%%lddm_b6, %%lddm_b7}, {%%lddm_c44, %%lddm_c45, %%lddm_c46, %%lddm_c47};");

    private static void Mma30() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c48, %%lddm_c49, %%lddm_c50, %%lddm_c51}, {%%lddm_a12, %%lddm_a13, %%lddm_a14, %%lddm_a15}, {%%lddm_b0, %%lddm_b1}, {%%lddm_c48, %%lddm_c49, %%lddm_c50, %%lddm_c51};");

    private static void Mma31() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c52, %%lddm_c53, %%lddm_c54, %%lddm_c55}, {%%lddm_a12, %%lddm_a13, %%lddm_a14, %%lddm_a15}, {%%lddm_b2, %%lddm_b3}, {%%lddm_c52, %%lddm_c53, %%lddm_c54, %%lddm_c55};");

    private static void Mma32() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c56, %%lddm_c57, %%lddm_c58, %%lddm_c59}, {%%lddm_a12, %%lddm_a13, %%lddm_a14, %%lddm_a15}, {%%lddm_b4, %%lddm_b5}, {%%lddm_c56, %%lddm_c57, %%lddm_c58, %%lddm_c59};");

    private static void Mma33() =>
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%lddm_c60, %%lddm_c61, %%lddm_c62, %%lddm_c63}, {%%lddm_a12, %%lddm_a13, %%lddm_a14, %%lddm_a15}, {%%lddm_b6, %%lddm_b7}, {%%lddm_c60, %%lddm_c61, %%lddm_c62, %%lddm_c63};");

    private static MmaAccumulator Accumulator0()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c0;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c1;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c2;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c3;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator1()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c4;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c5;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c6;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c7;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator2()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c8;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c9;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c10;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c11;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator3()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c12;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c13;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c14;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c15;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator4()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c16;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c17;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c18;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c19;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator5()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c20;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c21;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c22;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c23;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator6()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c24;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c25;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c26;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c27;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator7()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c28;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c29;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c30;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c31;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator8()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c32;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c33;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c34;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c35;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator9()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c36;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c37;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c38;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c39;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator10()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c40;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c41;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c42;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c43;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator11()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c44;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c45;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c46;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c47;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator12()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c48;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c49;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c50;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c51;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator13()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c52;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c53;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c54;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c55;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator14()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c56;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c57;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c58;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c59;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    private static MmaAccumulator Accumulator15()
    {
        CudaAsm.Emit("mov.b32 %0, %%lddm_c60;", out float c0);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c61;", out float c1);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c62;", out float c2);
        CudaAsm.Emit("mov.b32 %0, %%lddm_c63;", out float c3);
        return new MmaAccumulator { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }
}
