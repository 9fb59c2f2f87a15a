using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    protected override unsafe void EmbeddingForwardCore(DeviceBuffer<int> ids, DeviceBuffer<float> table, int count,
        int vocab, int dim, DeviceBuffer<float> y)
    {
        int* pid = Raw(ids).Pointer;
        float* pt = Raw(table).Pointer, py = Raw(y).Pointer;
        long bytes = (long)dim * sizeof(float);
        Pool.For(count, Math.Max(1, RowChunk / dim), (start, end) =>
        {
            for (int i = start; i < end; i++)
            {
                Buffer.MemoryCopy(pt + (long)pid[i] * dim, py + (long)i * dim, bytes, bytes);
            }
        });
    }

    /// <summary>
    /// Threads own disjoint column slabs of the table (16-float blocks) and walk every id in order, so repeated
    /// ids never race and the sum order is fixed (deterministic for any thread count).
    /// </summary>
    protected override unsafe void EmbeddingBackwardCore(DeviceBuffer<int> ids, DeviceBuffer<float> dy, int count,
        int vocab, int dim, DeviceBuffer<float> dtable)
    {
        int* pid = Raw(ids).Pointer;
        float* pdy = Raw(dy).Pointer, pg = Raw(dtable).Pointer;
        int blocks = (dim + 15) / 16;
        Pool.For(blocks, Math.Max(1, RowChunk / 16 / count), (start, end) =>
        {
            int c0 = start * 16, c1 = Math.Min(dim, end * 16), n = c1 - c0;
            for (int i = 0; i < count; i++)
            {
                AddInto(pdy + (long)i * dim + c0, pg + (long)pid[i] * dim + c0, n);
            }
        });
    }

    /// <summary>dst[d] += src[d] for d in [0, n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AddInto(float* src, float* dst, int n)
    {
        int d = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; d <= n - 16; d += 16)
            {
                (Vector512.Load(dst + d) + Vector512.Load(src + d)).Store(dst + d);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; d <= n - 8; d += 8)
            {
                (Vector256.Load(dst + d) + Vector256.Load(src + d)).Store(dst + d);
            }
        }
        for (; d < n; d++)
        {
            dst[d] += src[d];
        }
    }
}
