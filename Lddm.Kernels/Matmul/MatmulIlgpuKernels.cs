using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Shape of one batched-GEMM launch (flags as ints: plain unmanaged data for the kernel). Public because
/// ILGPU's CPU accelerator emits code that must see it.</summary>
public readonly struct MatmulParams(MatmulShape s, int tilesM, int tilesN)
{
    public readonly int M = s.M, N = s.N, K = s.K;
    public readonly int TransposeA = s.TransposeA ? 1 : 0, TransposeB = s.TransposeB ? 1 : 0;
    public readonly int BroadcastB = s.BroadcastB ? 1 : 0;
    public readonly float Alpha = s.Alpha, Beta = s.Beta;
    public readonly int TilesM = tilesM, TilesN = tilesN;
}

/// <summary>
/// Where a GEMM kernel puts C[row, col] = v (v = op(A)·op(B) at that element, before α/β): a plain C store, or a
/// linear layer's epilogue. Public because ILGPU's CPU accelerator emits code that must see the implementations.
/// </summary>
public interface IGemmStore
{
    void Store(ArrayView<float> c, int index, int col, float v);
}

/// <summary>c = α·v + β·c (c unread when β = 0).</summary>
public readonly struct PlainGemmStore(float alpha, float beta) : IGemmStore
{
    private readonly float _alpha = alpha, _beta = beta;

    public void Store(ArrayView<float> c, int index, int col, float v) =>
        c[index] = _beta == 0f ? _alpha * v : _alpha * v + _beta * c[index];
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
}

/// <summary>
/// Shared-memory tiled batched GEMM: each group of 256 threads owns a 64 × 64 tile of C[p]; K is walked in
/// 16-deep slices of op(A) and op(B) staged in shared memory (transposes are absorbed by the loads, which
/// stay coalesced along the stored rows); each thread accumulates a 4 × 4 register block. Shared rows are 66 words
/// (64 + 2): the 16 threads that store one row's 16 k-values (A as stored, Bᵀ) hit 16 distinct even banks, the next
/// row's 16 the odd ones, so no store conflicts (a 64-word row put all 16 in one bank); reads stay broadcasts.
/// </summary>
internal static class MatmulIlgpuKernels
{
    public const int Tile = 64, KTile = 16, GroupSize = 256;
    private const int Ld = Tile + 2;

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

    private static void Gemm<TStore>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s, TStore store)
        where TStore : struct, IGemmStore
    {
        var As = SharedMemory.Allocate<float>(KTile * Ld);
        var Bs = SharedMemory.Allocate<float>(KTile * Ld);
        int t = Group.IdxX, g = Grid.IdxX;
        int m = s.M, n = s.N, k = s.K;
        int tiles = s.TilesM * s.TilesN;
        int p = g / tiles, tile = g - p * tiles;
        int row0 = tile / s.TilesN * Tile, col0 = tile % s.TilesN * Tile;
        int aOff = p * m * k, bOff = s.BroadcastB != 0 ? 0 : p * k * n, cOff = p * m * n;
        int tx = t % 16, ty = t / 16;
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (int k0 = 0; k0 < k; k0 += KTile)
        {
            for (int e = t; e < KTile * Tile; e += GroupSize)
            {
                // op(A)[row, kk] → As[kk·Ld + row]; op(B)[kk, col] → Bs[kk·Ld + col].
                int rowA, kkA, colB, kkB;
                if (s.TransposeA != 0) { rowA = e % Tile; kkA = e / Tile; }
                else { kkA = e % KTile; rowA = e / KTile; }
                if (s.TransposeB != 0) { kkB = e % KTile; colB = e / KTile; }
                else { colB = e % Tile; kkB = e / Tile; }
                int gr = row0 + rowA, gka = k0 + kkA, gc = col0 + colB, gkb = k0 + kkB;
                float va = 0f, vb = 0f;
                if (gr < m && gka < k)
                {
                    va = a[aOff + (s.TransposeA != 0 ? gka * m + gr : gr * k + gka)];
                }
                if (gc < n && gkb < k)
                {
                    vb = b[bOff + (s.TransposeB != 0 ? gc * k + gkb : gkb * n + gc)];
                }
                As[kkA * Ld + rowA] = va;
                Bs[kkB * Ld + colB] = vb;
            }
            Group.Barrier();
            for (int kk = 0; kk < KTile; kk++)
            {
                // Thread (ty, tx) owns rows ty + 16i and columns tx + 16j: consecutive threads read consecutive words.
                float a0 = As[kk * Ld + ty], a1 = As[kk * Ld + ty + 16];
                float a2 = As[kk * Ld + ty + 32], a3 = As[kk * Ld + ty + 48];
                float b0 = Bs[kk * Ld + tx], b1 = Bs[kk * Ld + tx + 16];
                float b2 = Bs[kk * Ld + tx + 32], b3 = Bs[kk * Ld + tx + 48];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }
        int r = row0 + ty;
        StoreRow(c, cOff, r, col0 + tx, m, n, store, c00, c01, c02, c03);
        StoreRow(c, cOff, r + 16, col0 + tx, m, n, store, c10, c11, c12, c13);
        StoreRow(c, cOff, r + 32, col0 + tx, m, n, store, c20, c21, c22, c23);
        StoreRow(c, cOff, r + 48, col0 + tx, m, n, store, c30, c31, c32, c33);
    }

    private static void StoreRow<TStore>(ArrayView<float> c, int cOff, int row, int col, int m, int n, TStore store,
        float v0, float v1, float v2, float v3) where TStore : struct, IGemmStore
    {
        if (row >= m)
        {
            return;
        }
        int o = cOff + row * n;
        Store(c, o, col, n, store, v0);
        Store(c, o, col + 16, n, store, v1);
        Store(c, o, col + 32, n, store, v2);
        Store(c, o, col + 48, n, store, v3);
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
