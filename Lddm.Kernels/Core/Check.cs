using System.Globalization;

namespace Lddm.Kernels;

/// <summary>
/// Argument validation shared by every kernel entry point. Messages name the kernel, the argument,
/// the expected and the actual value, so a bad call fails before any kernel runs.
/// </summary>
internal static class Check
{
    public static void Positive(int value, string kernel, string name)
    {
        if (value <= 0)
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{kernel}: '{name}' must be positive but was {value}.");
        }
    }

    public static void NonNegative(int value, string kernel, string name)
    {
        if (value < 0)
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{kernel}: '{name}' must be non-negative but was {value}.");
        }
    }

    public static void Finite(float value, string kernel, string name)
    {
        if (!float.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{kernel}: '{name}' must be finite but was {value.ToString(CultureInfo.InvariantCulture)}.");
        }
    }

    /// <summary>
    /// Checks that <paramref name="buffer"/> is live, belongs to <paramref name="backend"/> and holds exactly
    /// <paramref name="expected"/> elements (<paramref name="shape"/> describes where that count comes from).
    /// </summary>
    public static void Buffer<T>(Backend backend, DeviceBuffer<T>? buffer, long expected, string kernel,
        string name, string shape) where T : unmanaged
    {
        if (buffer is null)
        {
            throw new ArgumentNullException(name, $"{kernel}: '{name}' is null.");
        }
        if (buffer.IsDisposed)
        {
            throw new ObjectDisposedException(name, $"{kernel}: '{name}' was already disposed.");
        }
        if (!ReferenceEquals(buffer.Backend, backend))
        {
            throw new ArgumentException(
                $"{kernel}: '{name}' lives on {buffer.Backend.Name} but the kernel runs on {backend.Name}.", name);
        }
        if (buffer.Length != expected)
        {
            throw new ArgumentException(
                $"{kernel}: '{name}' has {buffer.Length} elements but shape {shape} needs {expected}.", name);
        }
    }

    /// <summary>Checks a product of dimensions fits a 32-bit element count.</summary>
    public static int Elements(string kernel, params int[] dims)
    {
        long n = 1;
        foreach (int d in dims)
        {
            n *= d;
        }
        if (n > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(dims),
                $"{kernel}: shape ({string.Join(", ", dims)}) has {n} elements, more than a buffer can hold.");
        }
        return (int)n;
    }
}
