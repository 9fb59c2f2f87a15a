using System.Globalization;
using Xunit.Sdk;

namespace Lddm.Kernels.Tests.Support;

/// <summary>Random inputs, poison and float64 comparison with messages that carry seed and coordinates.</summary>
public static class Numerics
{
    public static float[] RandomFloats(Random rng, int n, float scale = 1f)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        }
        return x;
    }

    /// <summary>A buffer of <paramref name="n"/> NaNs: a kernel that forgets to write an element is caught.</summary>
    public static DeviceBuffer<float> Poisoned(Backend backend, int n) => backend.Full(n, float.NaN);

    /// <summary>
    /// Tolerance for a float32 result built from a reduction of <paramref name="length"/> terms:
    /// rounding error grows like √length in practice, linearly in the worst case.
    /// </summary>
    public static double Tolerance(int length, double perTerm = 2e-6) => perTerm * (4 + Math.Sqrt(Math.Max(1, length)) * 4);

    /// <summary>
    /// Asserts |actual − expected| ≤ tol·(1 + |expected|) everywhere; the message names the first failing index,
    /// both values, the context (backend, seed, shape) and the largest error seen.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double tol, string context)
    {
        if (expected.Length != actual.Length)
        {
            throw new XunitException($"{context}: expected {expected.Length} values, got {actual.Length}.");
        }
        double worst = 0;
        int firstBad = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]) / (1 + Math.Abs(expected[i]));
            if (double.IsNaN(actual[i]) || err > tol)
            {
                if (firstBad < 0)
                {
                    firstBad = i;
                }
                worst = double.IsNaN(actual[i]) ? double.NaN : Math.Max(worst, err);
            }
            else
            {
                worst = Math.Max(worst, err);
            }
        }
        if (firstBad >= 0)
        {
            throw new XunitException(string.Format(CultureInfo.InvariantCulture,
                "{0}: index {1}: expected {2:R}, got {3:R} (tolerance {4:E2}, worst relative error {5:E2}).",
                context, firstBad, expected[firstBad], actual[firstBad], tol, worst));
        }
    }

    /// <summary>Largest scaled error |a − e| / (1 + |e|), for reporting.</summary>
    public static double MaxError(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual)
    {
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]) / (1 + Math.Abs(expected[i])));
        }
        return worst;
    }

    /// <summary>Asserts the two arrays are equal bit for bit (NaN payloads and signed zeros included).</summary>
    public static void AssertBits(float[] expected, float[] actual, string context)
    {
        Xunit.Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
            {
                throw new XunitException(string.Format(CultureInfo.InvariantCulture,
                    "{0}: index {1}: expected {2:R}, got {3:R}.", context, i, expected[i], actual[i]));
            }
        }
    }
}
