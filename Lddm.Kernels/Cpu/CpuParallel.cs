namespace Lddm.Kernels.Cpu;

/// <summary>
/// Splits an index range over the cores. Work smaller than <c>minChunk</c> items per thread runs inline:
/// waking a thread costs more than a few microseconds of SIMD work.
/// </summary>
internal static class CpuParallel
{
    public static int Threads { get; set; } = Environment.ProcessorCount;

    /// <summary>Calls <paramref name="body"/>(start, end) on disjoint chunks covering [0, count).</summary>
    public static void For(int count, int minChunk, Action<int, int> body)
    {
        if (count <= 0)
        {
            return;
        }
        int chunks = Math.Min(Threads, Math.Max(1, count / Math.Max(1, minChunk)));
        if (chunks <= 1)
        {
            body(0, count);
            return;
        }
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = chunks }, c =>
        {
            int start = (int)((long)count * c / chunks);
            int end = (int)((long)count * (c + 1) / chunks);
            body(start, end);
        });
    }
}
