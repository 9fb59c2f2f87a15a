using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// Elements per float partial: each of 64 float lanes (4 × Vector512) adds at most 64 terms before the lanes
    /// are combined in float64. Blocks are fixed, not per-thread, so the result does not depend on scheduling.
    /// </summary>
    private const int ReduceBlock = 4096;

    /// <summary>Column strip width of <see cref="SumRowsCore"/>: four Vector512 accumulators, 256 bytes per row.</summary>
    private const int ColumnStrip = 64;

    protected override unsafe void SumCore(DeviceBuffer<float> x, DeviceBuffer<float> result, float scale, bool accumulate)
    {
        double s = DeterministicSum<IdentityMap>(Raw(x).Pointer, x.Length);
        float* r = Raw(result).Pointer;
        r[0] = (float)((accumulate ? r[0] : 0.0) + scale * s);
    }

    protected override unsafe void SumColsCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> result, bool accumulate)
    {
        float* px = Raw(x).Pointer, pr = Raw(result).Pointer;
        Pool.For(rows, Math.Max(1, 4 * ReduceBlock / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                double s = BlockedSum<IdentityMap>(px + (long)r * cols, cols);
                pr[r] = (float)((accumulate ? pr[r] : 0.0) + s);
            }
        });
    }

    protected override unsafe void SumRowsCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> result, bool accumulate)
    {
        float* px = Raw(x).Pointer, pr = Raw(result).Pointer;
        // Strips of 64 columns, narrowed (to 16, 32 or 48) when that is too few to give every thread one: a bias
        // gradient of 64 columns would otherwise run on one thread. A column's sum does not depend on its strip.
        int width = Math.Clamp((cols + Pool.Threads - 1) / Pool.Threads + 15 & ~15, 16, ColumnStrip);
        int strips = (cols + width - 1) / width;
        // Each column belongs to one strip and one thread, summed in a fixed order: deterministic.
        Pool.For(strips, Math.Max(1, 4 * ReduceBlock / (rows * width)), (s0, s1) =>
        {
            double* acc = stackalloc double[ColumnStrip];
            for (int s = s0; s < s1; s++)
            {
                int c0 = s * width, w = Math.Min(width, cols - c0);
                SumColumnStrip(px + c0, rows, cols, w, acc);
                for (int j = 0; j < w; j++)
                {
                    pr[c0 + j] = (float)((accumulate ? pr[c0 + j] : 0.0) + acc[j]);
                }
            }
        });
    }

    /// <summary>Σ map(p[i]) over any n, as float partials of <see cref="ReduceBlock"/> elements combined in float64,
    /// the blocks spread over the cores. Same input, same bits.</summary>
    private unsafe double DeterministicSum<TMap>(float* p, int n) where TMap : IReduceMap
    {
        int blocks = (n + ReduceBlock - 1) / ReduceBlock;
        if (blocks <= 4)
        {
            return BlockedSum<TMap>(p, n);
        }
        double[] partials = ArrayPool<double>.Shared.Rent(blocks);
        try
        {
            Pool.For(blocks, 4, (b0, b1) =>
            {
                for (int b = b0; b < b1; b++)
                {
                    long start = (long)b * ReduceBlock;
                    partials[b] = LaneSum<TMap>(p + start, (int)Math.Min(ReduceBlock, n - start));
                }
            });
            double s = 0;
            for (int b = 0; b < blocks; b++)
            {
                s += partials[b];
            }
            return s;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(partials);
        }
    }

    /// <summary>Single-threaded: the same block partials as <see cref="DeterministicSum{TMap}"/>, in order.</summary>
    private static unsafe double BlockedSum<TMap>(float* p, int n) where TMap : IReduceMap
    {
        double s = 0;
        for (int start = 0; start < n; start += ReduceBlock)
        {
            s += LaneSum<TMap>(p + start, Math.Min(ReduceBlock, n - start));
        }
        return s;
    }

    /// <summary>Σ map(p[i]) for n ≤ <see cref="ReduceBlock"/>: 64 (or 32) float lanes, lanes combined in float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe double LaneSum<TMap>(float* p, int n) where TMap : IReduceMap
    {
        int i = 0;
        double s = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= n - 64; i += 64)
            {
                a0 = TMap.Accumulate(a0, Vector512.Load(p + i));
                a1 = TMap.Accumulate(a1, Vector512.Load(p + i + 16));
                a2 = TMap.Accumulate(a2, Vector512.Load(p + i + 32));
                a3 = TMap.Accumulate(a3, Vector512.Load(p + i + 48));
            }
            for (; i <= n - 16; i += 16)
            {
                a0 = TMap.Accumulate(a0, Vector512.Load(p + i));
            }
            var a = (a0 + a1) + (a2 + a3);
            s = Vector512.Sum(Vector512.WidenLower(a)) + Vector512.Sum(Vector512.WidenUpper(a));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= n - 32; i += 32)
            {
                a0 = TMap.Accumulate(a0, Vector256.Load(p + i));
                a1 = TMap.Accumulate(a1, Vector256.Load(p + i + 8));
                a2 = TMap.Accumulate(a2, Vector256.Load(p + i + 16));
                a3 = TMap.Accumulate(a3, Vector256.Load(p + i + 24));
            }
            var a = (a0 + a1) + (a2 + a3);
            s = Vector256.Sum(Vector256.WidenLower(a)) + Vector256.Sum(Vector256.WidenUpper(a));
        }
        for (; i < n; i++)
        {
            s = TMap.Accumulate(s, p[i]);
        }
        return s;
    }

    /// <summary>acc[j] = Σ_r x[r·ld + j] for j &lt; w ≤ 64: float accumulators over 64 rows, flushed to float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void SumColumnStrip(float* x, int rows, int ld, int w, double* acc)
    {
        new Span<double>(acc, w).Clear();
        float* tmp = stackalloc float[ColumnStrip];
        for (int r0 = 0; r0 < rows; r0 += 64)
        {
            int r1 = Math.Min(rows, r0 + 64);
            int j = 0;
            if (Vector512.IsHardwareAccelerated && w == ColumnStrip)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int r = r0; r < r1; r++)
                {
                    float* row = x + (long)r * ld;
                    a0 += Vector512.Load(row);
                    a1 += Vector512.Load(row + 16);
                    a2 += Vector512.Load(row + 32);
                    a3 += Vector512.Load(row + 48);
                }
                a0.Store(tmp);
                a1.Store(tmp + 16);
                a2.Store(tmp + 32);
                a3.Store(tmp + 48);
                j = ColumnStrip;
            }
            else if (Vector512.IsHardwareAccelerated)
            {
                for (; j <= w - 16; j += 16)
                {
                    Vector512<float> a = default;
                    for (int r = r0; r < r1; r++)
                    {
                        a += Vector512.Load(x + (long)r * ld + j);
                    }
                    a.Store(tmp + j);
                }
            }
            if (Vector256.IsHardwareAccelerated)
            {
                for (; j <= w - 8; j += 8)
                {
                    Vector256<float> a = default;
                    for (int r = r0; r < r1; r++)
                    {
                        a += Vector256.Load(x + (long)r * ld + j);
                    }
                    a.Store(tmp + j);
                }
            }
            for (; j < w; j++)
            {
                float a = 0;
                for (int r = r0; r < r1; r++)
                {
                    a += x[(long)r * ld + j];
                }
                tmp[j] = a;
            }
            for (j = 0; j < w; j++)
            {
                acc[j] += tmp[j];
            }
        }
    }

    /// <summary>What a reduction adds per element: x (sums) or x² (squared norms).</summary>
    private interface IReduceMap
    {
        static abstract Vector512<float> Accumulate(Vector512<float> acc, Vector512<float> x);
        static abstract Vector256<float> Accumulate(Vector256<float> acc, Vector256<float> x);
        static abstract double Accumulate(double acc, float x);
    }

    private readonly struct IdentityMap : IReduceMap
    {
        public static Vector512<float> Accumulate(Vector512<float> acc, Vector512<float> x) => acc + x;
        public static Vector256<float> Accumulate(Vector256<float> acc, Vector256<float> x) => acc + x;
        public static double Accumulate(double acc, float x) => acc + x;
    }

    private readonly struct SquareMap : IReduceMap
    {
        public static Vector512<float> Accumulate(Vector512<float> acc, Vector512<float> x) => Vector512.FusedMultiplyAdd(x, x, acc);
        public static Vector256<float> Accumulate(Vector256<float> acc, Vector256<float> x) => Vector256.FusedMultiplyAdd(x, x, acc);
        public static double Accumulate(double acc, float x) => acc + (double)x * x;
    }
}
