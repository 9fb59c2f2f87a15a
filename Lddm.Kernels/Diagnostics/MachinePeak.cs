using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Lddm.Kernels.Cpu;

namespace Lddm.Kernels.Diagnostics;

/// <summary>
/// Measures this machine's fp32 FMA peak and streaming memory bandwidth in the same run as the kernels,
/// so benchmark figures are ratios to what the (shared, noisy) machine delivers right now.
/// </summary>
public static class MachinePeak
{
    /// <summary>
    /// Peak fp32 GFLOP/s: independent FMA chains on <paramref name="threads"/> threads (default: every core),
    /// 2 FLOPs per lane per FMA.
    /// </summary>
    public static double Fp32GflopsPerSecond(double seconds = 0.3, int? threads = null)
    {
        int count = threads ?? Environment.ProcessorCount;
        Check.Positive(count, nameof(MachinePeak), nameof(threads));
        long iterations = 1L << 22;
        double best = 0;
        for (int trial = 0; trial < 3; trial++)
        {
            var sw = Stopwatch.StartNew();
            long flopsPerThread = 0;
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = count }, _ =>
            {
                long f = FmaLoop(iterations);
                Interlocked.Exchange(ref flopsPerThread, f);
            });
            double t = sw.Elapsed.TotalSeconds;
            best = Math.Max(best, flopsPerThread * (double)count / t / 1e9);
            if (t < seconds / 3)
            {
                iterations *= 2;
            }
        }
        return best;
    }

    /// <summary>
    /// Streaming bandwidth in GB/s (bytes read + written per second) of a large copy on <paramref name="threads"/>
    /// threads (default: every core).
    /// </summary>
    public static unsafe double BandwidthGBPerSecond(int? threads = null)
    {
        using var pool = new CpuParallel(threads ?? Environment.ProcessorCount);
        const int n = 1 << 25; // 128 MiB per array: far beyond the caches.
        var src = GC.AllocateUninitializedArray<float>(n, pinned: true);
        var dst = GC.AllocateUninitializedArray<float>(n, pinned: true);
        src.AsSpan().Fill(1f);
        dst.AsSpan().Fill(0f);
        double best = 0;
        fixed (float* ps = src, pd = dst)
        {
            float* s = ps, d = pd;
            for (int trial = 0; trial < 4; trial++)
            {
                var sw = Stopwatch.StartNew();
                pool.For(n, 1 << 16, (start, end) =>
                    new ReadOnlySpan<float>(s + start, end - start).CopyTo(new Span<float>(d + start, end - start)));
                best = Math.Max(best, 2.0 * n * sizeof(float) / sw.Elapsed.TotalSeconds / 1e9);
            }
        }
        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long FmaLoop(long iterations)
    {
        // 8 independent accumulators hide the FMA latency (4 cycles, 2 ports).
        if (Vector512.IsHardwareAccelerated)
        {
            var a = Vector512.Create(1.0000001f);
            var b = Vector512.Create(0.9999999f);
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default,
                c4 = default, c5 = default, c6 = default, c7 = default;
            for (long i = 0; i < iterations; i++)
            {
                c0 = Vector512.FusedMultiplyAdd(c0, a, b); c1 = Vector512.FusedMultiplyAdd(c1, a, b);
                c2 = Vector512.FusedMultiplyAdd(c2, a, b); c3 = Vector512.FusedMultiplyAdd(c3, a, b);
                c4 = Vector512.FusedMultiplyAdd(c4, a, b); c5 = Vector512.FusedMultiplyAdd(c5, a, b);
                c6 = Vector512.FusedMultiplyAdd(c6, a, b); c7 = Vector512.FusedMultiplyAdd(c7, a, b);
            }
            Sink(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7);
            return iterations * 8 * 16 * 2;
        }
        else
        {
            var a = Vector256.Create(1.0000001f);
            var b = Vector256.Create(0.9999999f);
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default,
                c4 = default, c5 = default, c6 = default, c7 = default;
            for (long i = 0; i < iterations; i++)
            {
                c0 = Vector256.FusedMultiplyAdd(c0, a, b); c1 = Vector256.FusedMultiplyAdd(c1, a, b);
                c2 = Vector256.FusedMultiplyAdd(c2, a, b); c3 = Vector256.FusedMultiplyAdd(c3, a, b);
                c4 = Vector256.FusedMultiplyAdd(c4, a, b); c5 = Vector256.FusedMultiplyAdd(c5, a, b);
                c6 = Vector256.FusedMultiplyAdd(c6, a, b); c7 = Vector256.FusedMultiplyAdd(c7, a, b);
            }
            Sink(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7);
            return iterations * 8 * 8 * 2;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Sink<T>(T value) => GC.KeepAlive(value);
}
