using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace Lddm.Kernels.Diagnostics;

/// <summary>One measured kernel: its work per call in FLOPs or bytes, and the best time per call.</summary>
/// <param name="Kernel">Kernel name, e.g. "matmul".</param>
/// <param name="Shape">Shape in words, e.g. "1024x1024x1024".</param>
/// <param name="Backend">The backend measured (its kind).</param>
/// <param name="Seconds">Best (least disturbed) time per call.</param>
/// <param name="Work">FLOPs per call when <paramref name="ComputeBound"/>, else bytes moved per call.</param>
/// <param name="ComputeBound">True: reported in GFLOP/s against the FMA peak; false: GB/s against bandwidth.</param>
public sealed record BenchRow(string Kernel, string Shape, string Backend, double Seconds, double Work, bool ComputeBound);

/// <summary>What every quick benchmark gets: the backend, and a time budget per kernel.</summary>
public sealed record BenchContext(Backend Backend, double SecondsPerKernel);

/// <summary>
/// A kernel family's contribution to <c>lddm bench --quick</c>. Implementations are found by reflection,
/// so adding a family adds its rows. Each validates its kernel against the reference before timing.
/// </summary>
public interface IQuickBench
{
    /// <summary>Sort key: lower runs first.</summary>
    int Order { get; }

    IEnumerable<BenchRow> Run(BenchContext context);
}

public static class QuickBench
{
    /// <summary>Every <see cref="IQuickBench"/> in this assembly, in order.</summary>
    public static IReadOnlyList<IQuickBench> Discover() =>
        typeof(IQuickBench).Assembly.GetTypes()
            .Where(t => typeof(IQuickBench).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => (IQuickBench)Activator.CreateInstance(t, nonPublic: true)!)
            .OrderBy(b => b.Order).ThenBy(b => b.GetType().Name, StringComparer.Ordinal)
            .ToList();

    /// <summary>
    /// Runs <paramref name="action"/> once to warm up (kernel load, JIT, pool), then repeatedly for about
    /// <paramref name="seconds"/>; returns the best time per call, the least disturbed by other load.
    /// </summary>
    public static double Time(Backend backend, Action action, double seconds)
    {
        action();
        backend.Synchronize();
        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        int runs = 0;
        while (runs < 3 || (total.Elapsed.TotalSeconds < seconds && runs < 1000))
        {
            var sw = Stopwatch.StartNew();
            action();
            backend.Synchronize();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
            runs++;
        }
        return best;
    }

    /// <summary>Uniform floats in [−scale, scale): the quick benchmarks' inputs.</summary>
    public static float[] RandomFloats(Random rng, int n, float scale = 1f)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        }
        return x;
    }

    /// <summary>
    /// Validate before timing: throws unless |got − expected| ≤ tolerance·(1 + |expected|) everywhere
    /// (a fast wrong kernel must never produce a benchmark row).
    /// </summary>
    public static void Validate(string kernel, ReadOnlySpan<double> expected, ReadOnlySpan<float> got, double tolerance)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (!(Math.Abs(got[i] - expected[i]) <= tolerance * (1 + Math.Abs(expected[i]))))
            {
                throw new InvalidOperationException($"{kernel} is wrong at {i}: {got[i]} vs {expected[i]}; not timing it.");
            }
        }
    }

    /// <summary>The same check against a float result (a naive float loop as the baseline).</summary>
    public static void Validate(string kernel, ReadOnlySpan<float> expected, ReadOnlySpan<float> got, double tolerance)
    {
        var wide = new double[expected.Length];
        for (int i = 0; i < wide.Length; i++)
        {
            wide[i] = expected[i];
        }
        Validate(kernel, wide, got, tolerance);
    }

    public static string Format(BenchRow row, double peakGflops, double bandwidthGBs)
    {
        double rate = row.Work / row.Seconds / 1e9;
        double pct = 100 * rate / (row.ComputeBound ? peakGflops : bandwidthGBs);
        return string.Format(CultureInfo.InvariantCulture, "{0,-26} {1,-22} {2,-10} {3,10:F3} ms {4,9:F1} {5,-7} {6,6:F1}% of {7}",
            row.Kernel, row.Shape, row.Backend, row.Seconds * 1e3, rate, row.ComputeBound ? "GFLOP/s" : "GB/s",
            pct, row.ComputeBound ? "FMA peak" : "DRAM bw");
    }
}
