using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Shape of one batched-GEMM launch (flags as ints: plain unmanaged data for the kernel). Public because
/// ILGPU's CPU accelerator emits code that must see it.</summary>
/// <param name="s">The GEMM.</param>
/// <param name="tilesM">Tiles along m.</param>
/// <param name="tilesN">Tiles along n.</param>
/// <param name="quadA">A may be read as aligned 4-float (128-bit) quads: its stored rows (k long as stored, m long
/// transposed) are a multiple of 4 floats and its view starts 16-byte aligned (<see cref="QuadA"/>).</param>
/// <param name="quadB">The same for B (rows n long as stored, k long transposed).</param>
/// <param name="quadC">C (and a linear layer's y) may be written as aligned quads: n % 4 = 0 and every output view
/// starts 16-byte aligned.</param>
public readonly struct MatmulParams(MatmulShape s, int tilesM, int tilesN, bool quadA = false, bool quadB = false, bool quadC = false,
    ulong aAddress = 0, ulong bAddress = 0)
{
    public readonly int M = s.M, N = s.N, K = s.K;
    public readonly int TransposeA = s.TransposeA ? 1 : 0, TransposeB = s.TransposeB ? 1 : 0;
    public readonly int BroadcastB = s.BroadcastB ? 1 : 0;
    public readonly float Alpha = s.Alpha, Beta = s.Beta;
    public readonly int TilesM = tilesM, TilesN = tilesN;

    /// <summary>1: the FP32 kernel loads A's stored rows as aligned quads (<c>ld.global.v4.f32</c>); 0: float by
    /// float. Only the host can know the view's alignment (a buffer can be a slice of a larger allocation), so it is
    /// a launch argument; a wrong 1 would fault on CUDA (misaligned address), so the host sets it only when it holds
    /// (<see cref="IlgpuBackend"/>'s <c>QuadAligned</c>).</summary>
    public readonly int QuadA = quadA ? 1 : 0;

    /// <summary>As <see cref="QuadA"/>, for B.</summary>
    public readonly int QuadB = quadB ? 1 : 0;

    /// <summary>1: the FP32 kernel writes each thread's 4 consecutive C columns as one 128-bit store
    /// (<c>st.global.v4.f32</c>; with β ≠ 0 after one 128-bit load), else float by float.</summary>
    public readonly int QuadC = quadC ? 1 : 0;

    /// <summary>
    /// The device addresses of A's and B's first elements (the views' <c>LoadEffectiveAddressAsPtr</c>), or 0. Set by
    /// the CUDA host for the TF32 tensor-core kernel, which then copies A and B tiles global → shared with
    /// <c>cp.async</c> (inline PTX needs a raw global address, and ILGPU 1.5.3 cannot turn a view into one inside a
    /// kernel); only when A and B are not transposed and both quad flags hold (16-byte copies, see
    /// <see cref="MatmulMmaAsyncIlgpuKernels"/>). Every other kernel ignores them.
    /// </summary>
    public readonly ulong AAddress = aAddress, BAddress = bAddress;
}

/// <summary>
/// The output tile one group of a batched-GEMM grid owns: its batch entry's element offsets into A, B and C, and the
/// tile's first row and column. Shared by the three tensor-core kernels; public for ILGPU's CPU accelerator.
/// </summary>
public readonly struct GemmTile
{
    public readonly int Row0, Col0, AOff, BOff, COff;

    /// <summary>Group <paramref name="group"/> of a grid of TilesM·TilesN·batch groups with tiles of <paramref name="tileM"/> × <paramref name="tileN"/>.</summary>
    public GemmTile(MatmulParams s, int group, int tileM, int tileN)
    {
        int tiles = s.TilesM * s.TilesN;
        int p = group / tiles, tile = group - p * tiles;
        Row0 = tile / s.TilesN * tileM;
        Col0 = tile % s.TilesN * tileN;
        AOff = p * s.M * s.K;
        BOff = s.BroadcastB != 0 ? 0 : p * s.K * s.N;
        COff = p * s.M * s.N;
    }
}

/// <summary>
/// Where a GEMM kernel puts C[row, col] = v (v = op(A)·op(B) at that element, before α/β): a plain C store, or a
/// linear layer's epilogue. Public because ILGPU's CPU accelerator emits code that must see the implementations.
/// </summary>
public interface IGemmStore
{
    void Store(ArrayView<float> c, int index, int col, float v);

    /// <summary>
    /// C[index..index+3] (columns col..col+3, all inside the row) = the 4 values: one 128-bit store per output view.
    /// Only called when the host set <see cref="MatmulParams.QuadC"/> (index is then a multiple of 4 in aligned views).
    /// </summary>
    void StoreQuad(ArrayView<float> c, int index, int col, MmaFloat4 v);
}

/// <summary>c = α·v + β·c (c unread when β = 0).</summary>
public readonly struct PlainGemmStore(float alpha, float beta) : IGemmStore
{
    private readonly float _alpha = alpha, _beta = beta;

    public void Store(ArrayView<float> c, int index, int col, float v) =>
        c[index] = _beta == 0f ? _alpha * v : _alpha * v + _beta * c[index];

    public void StoreQuad(ArrayView<float> c, int index, int col, MmaFloat4 v)
    {
        var c4 = c.Cast<MmaFloat4>();
        int q = index >> 2;
        MmaFloat4 r;
        if (_beta == 0f)
        {
            r.X = _alpha * v.X; r.Y = _alpha * v.Y; r.Z = _alpha * v.Z; r.W = _alpha * v.W;
        }
        else
        {
            var old = c4[q];
            r.X = _alpha * v.X + _beta * old.X; r.Y = _alpha * v.Y + _beta * old.Y;
            r.Z = _alpha * v.Z + _beta * old.Z; r.W = _alpha * v.W + _beta * old.W;
        }
        c4[q] = r;
    }
}

/// <summary>
/// A linear layer's epilogue (<see cref="Backend.LinearForward"/>): with the identity, c = v + bias[col] (c is y);
/// otherwise c = v (the pre-activation) and y = act(v + bias[col]). No bias: HasBias = 0 and the view is unread.
/// </summary>
public readonly struct LinearGemmStore(ArrayView<float> bias, ArrayView<float> y, ActivationShape shape) : IGemmStore
{
    private readonly ArrayView<float> _bias = bias, _y = y;
    private readonly ActivationShape _shape = shape;

    public void Store(ArrayView<float> c, int index, int col, float v)
    {
        float u = _shape.HasBias != 0 ? v + _bias[col] : v;
        if (_shape.Act == (int)Activation.Identity)
        {
            c[index] = u;
            return;
        }
        c[index] = v;
        _y[index] = ActivationIlgpuKernels.Value(_shape.Act, u);
    }

    public void StoreQuad(ArrayView<float> c, int index, int col, MmaFloat4 v)
    {
        var u = v;
        if (_shape.HasBias != 0)
        {
            u.X += _bias[col]; u.Y += _bias[col + 1]; u.Z += _bias[col + 2]; u.W += _bias[col + 3];
        }
        int q = index >> 2;
        if (_shape.Act == (int)Activation.Identity)
        {
            c.Cast<MmaFloat4>()[q] = u;
            return;
        }
        c.Cast<MmaFloat4>()[q] = v;
        MmaFloat4 y;
        y.X = ActivationIlgpuKernels.Value(_shape.Act, u.X);
        y.Y = ActivationIlgpuKernels.Value(_shape.Act, u.Y);
        y.Z = ActivationIlgpuKernels.Value(_shape.Act, u.Z);
        y.W = ActivationIlgpuKernels.Value(_shape.Act, u.W);
        _y.Cast<MmaFloat4>()[q] = y;
    }
}

/// <summary>
/// The store of <see cref="Backend.LinearGatedResidualForward"/>: u = v + bias[col] into c, and
/// y = residual + gate[row / tokens]·u (gate one row of n per sequence), the expression of the gated-residual kernel.
/// One batch, so the row is index / n.
/// </summary>
public readonly struct GatedGemmStore(ArrayView<float> bias, int hasBias, ArrayView<float> residual, ArrayView<float> gate,
    ArrayView<float> y, int n, int tokens) : IGemmStore
{
    private readonly ArrayView<float> _bias = bias, _residual = residual, _gate = gate, _y = y;
    private readonly int _hasBias = hasBias, _n = n, _tokens = tokens;

    public void Store(ArrayView<float> c, int index, int col, float v)
    {
        float u = _hasBias != 0 ? v + _bias[col] : v;
        c[index] = u;
        _y[index] = _residual[index] + _gate[index / _n / _tokens * _n + col] * u;
    }

    public void StoreQuad(ArrayView<float> c, int index, int col, MmaFloat4 v)
    {
        Store(c, index, col, v.X);
        Store(c, index + 1, col + 1, v.Y);
        Store(c, index + 2, col + 2, v.Z);
        Store(c, index + 3, col + 3, v.W);
    }
}

/// <summary>
/// Shared-memory tiled batched GEMM: each group of 256 threads owns a 64 × 64 tile of C[p]; K is walked in
/// 16-deep slices of op(A) and op(B) staged in shared memory as [k][row] and [k][col] (transposes are absorbed by the
/// loads); each thread accumulates a 4 × 4 register block, rows 4·ty..4·ty+3 and columns 4·tx..4·tx+3.
/// <para>
/// Loads: each thread reads one quad (4 consecutive stored floats) of A and one of B per slice, along the
/// stored-contiguous dimension, so a warp's request covers whole 32-byte sectors; as one 128-bit load
/// (<c>ld.global.v4.f32</c>) when the host says the operand's rows are whole aligned quads
/// (<see cref="MatmulParams.QuadA"/>), else float by float with zeros past the edge. Quads along m or n go to shared
/// memory as one 128-bit store; quads along k are transposed by 4 scalar stores.
/// </para>
/// <para>
/// Compute: per 4 k of a slice, the thread's shared base is computed once and 4 inlined <see cref="Step"/>s with
/// constant k each read one 128-bit A quad and one B quad at a constant offset from it and issue 16 FMAs: 64 FFMA,
/// 8 LDS.128 and 7 loop/address instructions in the SASS (before: 16 FFMA, 8 scalar LDS and ~19 address and loop
/// instructions per k). Unrolling all 16 k instead removes the last 7 but lets ptxas hoist all 32 quad loads: 124
/// registers instead of 40, 2 blocks per SM instead of 6. Shared rows are 68 words (64 + 4): a multiple of 4, so
/// quads stay 16-byte aligned; the A reads of a warp are broadcasts of 2 quads, its B reads 16 consecutive quads
/// (conflict-free per quarter warp). The padding leaves the scalar k-transposing stores at 2-way bank conflicts (8 rows
/// × 4 quads of a warp land on 16 banks): 4 stores per thread per slice, against 32 quad reads.
/// </para>
/// <para>
/// Stores: a thread's 4 consecutive columns of a row go out as one 128-bit store per output view when the host says C
/// (and a linear layer's y) has rows of whole aligned quads (<see cref="MatmulParams.QuadC"/>): 4 <c>st.global.v4.f32</c>
/// instead of 16 scalar stores (41 registers on sm_90, was 40). Register double-buffering of the next slice's global
/// quads was tried and not kept: 59 registers, so 4 blocks per SM instead of 6, a trade only a GPU can judge.
/// </para>
/// </summary>
internal static class MatmulIlgpuKernels
{
    public const int Tile = 64, KTile = 16, GroupSize = 256;

    /// <summary>Shared row length in quads: 17 = 68 words.</summary>
    private const int Ld4 = Tile / 4 + 1;
    private const int Ld = 4 * Ld4;

    /// <summary>Grid: TilesM·TilesN·batch groups of 256 threads. C = α·op(A)·op(B) + β·C, C unread when β = 0.</summary>
    [GpuKernel(Hot = true)]
    public static void Matmul(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s) =>
        Gemm(a, b, c, s, new PlainGemmStore(s.Alpha, s.Beta));

    /// <summary>
    /// A linear layer, y = act(x·W + bias), with the bias and activation in the store (<see cref="LinearGemmStore"/>):
    /// c is y for the identity, else the pre-activation x·W. One batch, no transposes, α = 1, β = 0.
    /// </summary>
    [GpuKernel(Hot = true)]
    public static void MatmulLinear(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s,
        ArrayView<float> bias, ArrayView<float> y, ActivationShape epilogue) =>
        Gemm(a, b, c, s, new LinearGemmStore(bias, y, epilogue));

    /// <summary>
    /// A linear layer closing a gated residual branch (<see cref="GatedGemmStore"/>): c = u = x·W + bias and
    /// y = residual + gate·u. One batch, no transposes, α = 1, β = 0.
    /// </summary>
    [GpuKernel(Hot = true)]
    public static void MatmulGated(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s,
        ArrayView<float> bias, int hasBias, ArrayView<float> residual, ArrayView<float> gate, ArrayView<float> y, int tokens) =>
        Gemm(a, b, c, s, new GatedGemmStore(bias, hasBias, residual, gate, y, s.N, tokens));

    private static void Gemm<TStore>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s, TStore store)
        where TStore : struct, IGemmStore
    {
        // Quads allocated as quads: the shared arrays are 16-byte aligned (float arrays would be 4).
        var As4 = SharedMemory.Allocate<MmaFloat4>(KTile * Ld4);
        var Bs4 = SharedMemory.Allocate<MmaFloat4>(KTile * Ld4);
        var As = As4.Cast<float>();
        var Bs = Bs4.Cast<float>();
        int t = Group.IdxX, g = Grid.IdxX;
        int m = s.M, n = s.N, k = s.K;
        // The tile of GemmTile, inline: through the struct ptxas allocated 44 instead of 40 registers for MatmulGated on
        // sm_80 (6 → 5 blocks per SM).
        int tiles = s.TilesM * s.TilesN;
        int p = g / tiles, tile = g - p * tiles;
        int row0 = tile / s.TilesN * Tile, col0 = tile % s.TilesN * Tile;
        int aOff = p * m * k, bOff = s.BroadcastB != 0 ? 0 : p * k * n, cOff = p * m * n;
        int tx = t % 16, ty = t / 16;
        var acc = default(GemmBlock4x4);
        for (int k0 = 0; k0 < k; k0 += KTile)
        {
            StoreA(As, As4, s, t, LoadA(a, s, t, aOff, row0, k0));
            StoreB(Bs, Bs4, s, t, LoadB(b, s, t, bOff, col0, k0));
            Group.Barrier();
            for (int kk = 0; kk < KTile; kk += 4)
            {
                // The thread's quads in shared row kk; Step reads rows kk..kk+3 at constant offsets from here.
                var aK = As4.SubView(kk * Ld4 + ty);
                var bK = Bs4.SubView(kk * Ld4 + tx);
                acc = Step(acc, aK, bK, 0); acc = Step(acc, aK, bK, 1); acc = Step(acc, aK, bK, 2); acc = Step(acc, aK, bK, 3);
            }
            Group.Barrier();
        }
        int r0 = row0 + 4 * ty, c0 = col0 + 4 * tx;
        StoreRow(c, cOff, r0, c0, m, n, s.QuadC, store, acc.C00, acc.C01, acc.C02, acc.C03);
        StoreRow(c, cOff, r0 + 1, c0, m, n, s.QuadC, store, acc.C10, acc.C11, acc.C12, acc.C13);
        StoreRow(c, cOff, r0 + 2, c0, m, n, s.QuadC, store, acc.C20, acc.C21, acc.C22, acc.C23);
        StoreRow(c, cOff, r0 + 3, c0, m, n, s.QuadC, store, acc.C30, acc.C31, acc.C32, acc.C33);
    }

    /// <summary>
    /// This thread's quad of op(A) for the slice at <paramref name="k0"/>: along k as stored (row t/4, k quad t%4), or
    /// along m when transposed (k t/16, m quad t%16); zeros past the edges.
    /// </summary>
    private static MmaFloat4 LoadA(ArrayView<float> a, MatmulParams s, int t, int aOff, int row0, int k0)
    {
        if (s.TransposeA == 0)
        {
            int gr = row0 + (t >> 2);
            return gr < s.M ? Quad(a, aOff + gr * s.K, k0 + (t & 3) * 4, s.K, s.QuadA) : default;
        }
        int gk = k0 + (t >> 4);
        return gk < s.K ? Quad(a, aOff + gk * s.M, row0 + (t & 15) * 4, s.M, s.QuadA) : default;
    }

    /// <summary>This thread's quad of op(B) for the slice at <paramref name="k0"/> (as <see cref="LoadA"/>, columns for rows).</summary>
    private static MmaFloat4 LoadB(ArrayView<float> b, MatmulParams s, int t, int bOff, int col0, int k0)
    {
        if (s.TransposeB == 0)
        {
            int gk = k0 + (t >> 4);
            return gk < s.K ? Quad(b, bOff + gk * s.N, col0 + (t & 15) * 4, s.N, s.QuadB) : default;
        }
        int gc = col0 + (t >> 2);
        return gc < s.N ? Quad(b, bOff + gc * s.K, k0 + (t & 3) * 4, s.K, s.QuadB) : default;
    }

    /// <summary>A's quad into shared [k][row]: a k quad transposed by 4 scalar stores, an m quad as one 128-bit store.</summary>
    private static void StoreA(ArrayView<float> As, ArrayView<MmaFloat4> As4, MatmulParams s, int t, MmaFloat4 v)
    {
        if (s.TransposeA == 0)
        {
            StoreColumn(As, (t & 3) * 4 * Ld + (t >> 2), v);
        }
        else
        {
            As4[(t >> 4) * Ld4 + (t & 15)] = v;
        }
    }

    /// <summary>B's quad into shared [k][col] (as <see cref="StoreA"/>).</summary>
    private static void StoreB(ArrayView<float> Bs, ArrayView<MmaFloat4> Bs4, MatmulParams s, int t, MmaFloat4 v)
    {
        if (s.TransposeB == 0)
        {
            Bs4[(t >> 4) * Ld4 + (t & 15)] = v;
        }
        else
        {
            StoreColumn(Bs, (t & 3) * 4 * Ld + (t >> 2), v);
        }
    }

    /// <summary>
    /// Row[j..j+3] of a stored row of <paramref name="len"/> floats at <paramref name="rowOff"/>, zeros past its end.
    /// With <paramref name="quad"/> = 1 (len and the view's start aligned to 4 floats; j is always a multiple of 4)
    /// one 128-bit load: ILGPU 1.5.3 emits <c>ld.global.v4.f32</c> for a 16-byte struct loaded through a view cast to
    /// it, trusting the view's alignment (no run-time check: a misaligned quad faults on CUDA), hence the host's flag.
    /// </summary>
    internal static MmaFloat4 Quad(ArrayView<float> v, int rowOff, int j, int len, int quad)
    {
        if (quad != 0)
        {
            return j < len ? v.Cast<MmaFloat4>()[(rowOff + j) >> 2] : default;
        }
        var r = default(MmaFloat4);
        int i = rowOff + j;
        if (j + 3 < len)
        {
            r.X = v[i]; r.Y = v[i + 1]; r.Z = v[i + 2]; r.W = v[i + 3];
            return r;
        }
        if (j < len)
        {
            r.X = v[i];
        }
        if (j + 1 < len)
        {
            r.Y = v[i + 1];
        }
        if (j + 2 < len)
        {
            r.Z = v[i + 2];
        }
        return r;
    }

    /// <summary>A k quad into 4 consecutive shared rows (k, k+1, k+2, k+3) at column <paramref name="i"/> of the first.</summary>
    private static void StoreColumn(ArrayView<float> shared, int i, MmaFloat4 v)
    {
        shared[i] = v.X;
        shared[i + Ld] = v.Y;
        shared[i + 2 * Ld] = v.Z;
        shared[i + 3 * Ld] = v.W;
    }

    /// <summary>
    /// One k of the slice: the thread's A quad (rows 4·ty..4·ty+3) and B quad (columns 4·tx..4·tx+3) of shared row
    /// <paramref name="kk"/> past the bases, a compile-time constant at every call, and their 16 products. The
    /// accumulators travel by value, so the inlined calls are one straight run of FMAs over registers.
    /// </summary>
    private static GemmBlock4x4 Step(GemmBlock4x4 c, ArrayView<MmaFloat4> aT, ArrayView<MmaFloat4> bT, int kk)
    {
        var a = aT[kk * Ld4];
        var b = bT[kk * Ld4];
        c.C00 += a.X * b.X; c.C01 += a.X * b.Y; c.C02 += a.X * b.Z; c.C03 += a.X * b.W;
        c.C10 += a.Y * b.X; c.C11 += a.Y * b.Y; c.C12 += a.Y * b.Z; c.C13 += a.Y * b.W;
        c.C20 += a.Z * b.X; c.C21 += a.Z * b.Y; c.C22 += a.Z * b.Z; c.C23 += a.Z * b.W;
        c.C30 += a.W * b.X; c.C31 += a.W * b.Y; c.C32 += a.W * b.Z; c.C33 += a.W * b.W;
        return c;
    }

    private static void StoreRow<TStore>(ArrayView<float> c, int cOff, int row, int col, int m, int n, int quadC, TStore store,
        float v0, float v1, float v2, float v3) where TStore : struct, IGemmStore
    {
        if (row >= m)
        {
            return;
        }
        int o = cOff + row * n;
        if (quadC != 0)
        {
            // n % 4 = 0 and col % 4 = 0: the quad is inside the row or wholly past its end.
            if (col < n)
            {
                MmaFloat4 q;
                q.X = v0; q.Y = v1; q.Z = v2; q.W = v3;
                store.StoreQuad(c, o + col, col, q);
            }
            return;
        }
        Store(c, o, col, n, store, v0);
        Store(c, o, col + 1, n, store, v1);
        Store(c, o, col + 2, n, store, v2);
        Store(c, o, col + 3, n, store, v3);
    }

    private static void Store<TStore>(ArrayView<float> c, int rowOff, int col, int n, TStore store, float v)
        where TStore : struct, IGemmStore
    {
        if (col < n)
        {
            store.Store(c, rowOff + col, col, v);
        }
    }
}

/// <summary>A thread's 4 × 4 block of C: Cij is row 4·ty+i, column 4·tx+j. Public for ILGPU's CPU accelerator.</summary>
public struct GemmBlock4x4
{
    public float C00, C01, C02, C03, C10, C11, C12, C13, C20, C21, C22, C23, C30, C31, C32, C33;
}
