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
/// Shared-memory tiled batched GEMM: each group of 256 threads owns a 64 × 64 tile of C[p]; K is walked in
/// 16-deep slices of op(A) and op(B) staged in shared memory (transposes are absorbed by the loads, which
/// stay coalesced along the stored rows); each thread accumulates a 4 × 4 register block.
/// </summary>
internal static class MatmulIlgpuKernels
{
    public const int Tile = 64, KTile = 16, GroupSize = 256;

    /// <summary>Grid: TilesM·TilesN·batch groups of 256 threads. C = α·op(A)·op(B) + β·C, C unread when β = 0.</summary>
    [GpuKernel(Hot = true)]
    public static void Matmul(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulParams s)
    {
        var As = SharedMemory.Allocate<float>(KTile * Tile);
        var Bs = SharedMemory.Allocate<float>(KTile * Tile);
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
                // op(A)[row, kk] → As[kk·64 + row]; op(B)[kk, col] → Bs[kk·64 + col].
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
                As[kkA * Tile + rowA] = va;
                Bs[kkB * Tile + colB] = vb;
            }
            Group.Barrier();
            for (int kk = 0; kk < KTile; kk++)
            {
                // Thread (ty, tx) owns rows ty + 16i and columns tx + 16j: consecutive threads read consecutive words.
                float a0 = As[kk * Tile + ty], a1 = As[kk * Tile + ty + 16];
                float a2 = As[kk * Tile + ty + 32], a3 = As[kk * Tile + ty + 48];
                float b0 = Bs[kk * Tile + tx], b1 = Bs[kk * Tile + tx + 16];
                float b2 = Bs[kk * Tile + tx + 32], b3 = Bs[kk * Tile + tx + 48];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }
        float alpha = s.Alpha, beta = s.Beta;
        int r = row0 + ty;
        StoreRow(c, cOff, r, col0 + tx, m, n, alpha, beta, c00, c01, c02, c03);
        StoreRow(c, cOff, r + 16, col0 + tx, m, n, alpha, beta, c10, c11, c12, c13);
        StoreRow(c, cOff, r + 32, col0 + tx, m, n, alpha, beta, c20, c21, c22, c23);
        StoreRow(c, cOff, r + 48, col0 + tx, m, n, alpha, beta, c30, c31, c32, c33);
    }

    private static void StoreRow(ArrayView<float> c, int cOff, int row, int col, int m, int n, float alpha,
        float beta, float v0, float v1, float v2, float v3)
    {
        if (row >= m)
        {
            return;
        }
        int o = cOff + row * n;
        Store(c, o, col, n, alpha, beta, v0);
        Store(c, o, col + 16, n, alpha, beta, v1);
        Store(c, o, col + 32, n, alpha, beta, v2);
        Store(c, o, col + 48, n, alpha, beta, v3);
    }

    private static void Store(ArrayView<float> c, int rowOff, int col, int n, float alpha, float beta, float v)
    {
        if (col < n)
        {
            int i = rowOff + col;
            c[i] = beta == 0f ? alpha * v : alpha * v + beta * c[i];
        }
    }
}
