using System.Diagnostics;
using System.Globalization;

namespace Lddm.Training.Checkpoints;

/// <summary>
/// Crash testing: with <c>LDDM_FAULT=point@n</c> in the environment, the n-th time the process reaches the named point
/// it kills itself with SIGKILL (no finally blocks, no flush: what <c>kill -9</c> does). Points: <c>snapshot-file</c>
/// (after each tensor file of a snapshot is written to the temporary folder), <c>snapshot-renamed</c> (after the
/// snapshot's rename, before the <c>latest</c> pointer moves). Unset (the normal case), it does nothing.
/// </summary>
internal static class FaultInjection
{
    private static readonly (string Point, int At)? s_fault = Parse(Environment.GetEnvironmentVariable("LDDM_FAULT"));
    private static int s_hits;

    public static void Hit(string point)
    {
        if (s_fault is { } f && f.Point == point && Interlocked.Increment(ref s_hits) == f.At)
        {
            Process.GetCurrentProcess().Kill();
        }
    }

    private static (string, int)? Parse(string? value)
    {
        int at = value?.IndexOf('@', StringComparison.Ordinal) ?? -1;
        return at > 0 && int.TryParse(value.AsSpan(at + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? (value![..at], n) : null;
    }
}
