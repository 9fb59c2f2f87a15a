using System.Runtime.InteropServices;

namespace Lddm.Training.Checkpoints;

/// <summary>Element types this engine reads and writes in safetensors files (little-endian).</summary>
public enum SafeTensorDType
{
    /// <summary>IEEE-754 binary32.</summary>
    F32,

    /// <summary>Two's-complement 32-bit integer.</summary>
    I32,

    /// <summary>IEEE-754 binary64.</summary>
    F64,
}

/// <summary>
/// One tensor of a safetensors file: element type, shape (row-major) and its raw little-endian bytes, with
/// bytes.Length = Π shape · sizeof(dtype). A scalar has shape [].
/// </summary>
public sealed class SafeTensor
{
    public SafeTensor(SafeTensorDType dtype, long[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (!Enum.IsDefined(dtype))
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype.");
        }
        long elements = ElementCount(shape)
            ?? throw new ArgumentException($"Shape [{string.Join(", ", shape)}] has a negative dimension or too many elements.", nameof(shape));
        if (elements * SizeOf(dtype) != data.Length)
        {
            throw new ArgumentException(
                $"Shape [{string.Join(", ", shape)}] of {dtype} needs {elements * SizeOf(dtype)} bytes; got {data.Length}.", nameof(data));
        }
        DType = dtype;
        Shape = (long[])shape.Clone();
        Data = data;
    }

    public SafeTensorDType DType { get; }

    public IReadOnlyList<long> Shape { get; }

    /// <summary>The raw little-endian bytes (not copied: do not mutate after handing them over).</summary>
    public byte[] Data { get; }

    public static SafeTensor FromFloats(ReadOnlySpan<float> values, params long[] shape) =>
        new(SafeTensorDType.F32, shape, MemoryMarshal.AsBytes(values).ToArray());

    public static SafeTensor FromInts(ReadOnlySpan<int> values, params long[] shape) =>
        new(SafeTensorDType.I32, shape, MemoryMarshal.AsBytes(values).ToArray());

    public static SafeTensor FromDoubles(ReadOnlySpan<double> values, params long[] shape) =>
        new(SafeTensorDType.F64, shape, MemoryMarshal.AsBytes(values).ToArray());

    public float[] ToFloats() => As<float>(SafeTensorDType.F32);

    public int[] ToInts() => As<int>(SafeTensorDType.I32);

    public double[] ToDoubles() => As<double>(SafeTensorDType.F64);

    /// <summary>Bytes per element.</summary>
    public static int SizeOf(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>Π shape, or null when a dimension is negative or the product overflows.</summary>
    internal static long? ElementCount(IReadOnlyList<long> shape)
    {
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0)
            {
                return null;
            }
            try
            {
                count = checked(count * d);
            }
            catch (OverflowException)
            {
                return null;
            }
        }
        return count;
    }

    private T[] As<T>(SafeTensorDType expected)
        where T : unmanaged
    {
        if (DType != expected)
        {
            throw new InvalidOperationException($"Tensor holds {DType}, not {expected}.");
        }
        return MemoryMarshal.Cast<byte, T>(Data).ToArray();
    }
}
