using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Lddm.Training.Checkpoints;

/// <summary>The tensors and the optional string metadata of one safetensors file.</summary>
public sealed record SafeTensorsContent(IReadOnlyDictionary<string, SafeTensor> Tensors, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// The safetensors format (huggingface/safetensors), readable by other ecosystems:
/// <code>
///   [8 bytes] N, little-endian u64          length of the header
///   [N bytes] UTF-8 JSON header             {"__metadata__": {str: str}?, name: {"dtype": "F32"|"I32"|"F64",
///                                             "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
///   [rest]    raw little-endian tensor data  offsets relative to the end of the header
/// </code>
/// Written with tensors in ordinal name order, offsets contiguous from 0, header padded with spaces to a multiple
/// of 8 bytes. Files are written atomically: to <c>path.tmp-&lt;guid&gt;</c> in the same directory, flushed to disk,
/// then moved over <c>path</c>; on any failure the temporary file is deleted and the previous file is untouched.
/// </summary>
public static class SafeTensors
{
    private const string MetadataKey = "__metadata__";

    /// <summary>Test hook: called between writing the header and the data of the temporary file.</summary>
    internal static Action<string>? AfterHeaderWritten { get; set; }

    /// <summary>Writes the file atomically and returns the SHA-256 of its bytes (lower-case hex).</summary>
    public static string Write(string path, IReadOnlyDictionary<string, SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        RequireLittleEndian();
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToArray();
        foreach (string name in names)
        {
            if (name.Length == 0 || name == MetadataKey)
            {
                throw new ArgumentException($"Invalid tensor name '{name}' for '{path}'.", nameof(tensors));
            }
        }
        byte[] header = Header(names, tensors, metadata);
        string full = Path.GetFullPath(path);
        string temp = $"{full}.tmp-{Guid.NewGuid():N}";
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                byte[] length = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                foreach (byte[] chunk in new[] { length, header })
                {
                    stream.Write(chunk);
                    sha.AppendData(chunk);
                }
                AfterHeaderWritten?.Invoke(temp);
                foreach (string name in names)
                {
                    stream.Write(tensors[name].Data);
                    sha.AppendData(tensors[name].Data);
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
            return Convert.ToHexStringLower(sha.GetHashAndReset());
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Reads and validates a whole file; every inconsistency (a missing file, a directory in its place, a SHA-256 other
    /// than <paramref name="expectedSha256"/> when given, any malformed byte) is an <see cref="InvalidDataException"/>
    /// naming the file: the one documented exception of the reader.
    /// </summary>
    public static SafeTensorsContent Read(string path, string? expectedSha256 = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        RequireLittleEndian();
        if (Directory.Exists(path))
        {
            throw Bad(path, "is a directory, not a file");
        }
        if (!File.Exists(path))
        {
            throw Bad(path, "is missing");
        }
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw Bad(path, $"cannot be read ({e.Message})");
        }
        if (expectedSha256 is not null)
        {
            string actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
            if (!string.Equals(actual, expectedSha256, StringComparison.OrdinalIgnoreCase))
            {
                throw Bad(path, $"SHA-256 {actual} differs from the {expectedSha256} recorded when it was saved: the file was changed or corrupted on disk");
            }
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses and validates the bytes of a safetensors file; <paramref name="source"/> names it in errors.</summary>
    public static SafeTensorsContent Parse(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.Length < 8)
        {
            throw Bad(source, $"file is truncated: {bytes.Length} bytes, fewer than the 8-byte header length");
        }
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength == 0 || headerLength > (ulong)(bytes.Length - 8))
        {
            throw Bad(source, $"header length {headerLength} does not fit in the {bytes.Length - 8} bytes after the length field (truncated or corrupted file)");
        }
        var headerBytes = bytes.Slice(8, (int)headerLength);
        var data = bytes[(8 + (int)headerLength)..];
        if (!Utf8.IsValid(headerBytes))
        {
            throw Bad(source, "header is not valid UTF-8");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(headerBytes.ToArray());
        }
        catch (JsonException e)
        {
            throw Bad(source, $"header is not well-formed JSON ({e.Message})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Bad(source, "header is not a JSON object");
            }
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<(string Name, SafeTensorDType DType, long[] Shape, long Begin, long End)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw Bad(source, $"header names '{property.Name}' twice");
                }
                if (property.Name == MetadataKey)
                {
                    ReadMetadata(property.Value, metadata, source);
                    continue;
                }
                entries.Add(ReadEntry(property.Name, property.Value, data.Length, source));
            }
            CheckLayout(entries.Select(e => (e.Name, e.Begin, e.End)).ToList(), data.Length, source);
            var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
            foreach (var (name, dtype, shape, begin, end) in entries)
            {
                tensors[name] = new SafeTensor(dtype, shape, data[(int)begin..(int)end].ToArray());
            }
            return new SafeTensorsContent(tensors, metadata);
        }
    }

    private static byte[] Header(string[] names, IReadOnlyDictionary<string, SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var key in metadata.Keys.Order(StringComparer.Ordinal))
                {
                    json.WriteString(key, metadata[key]);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (string name in names)
            {
                var tensor = tensors[name] ?? throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors));
                json.WriteStartObject(name);
                json.WriteString("dtype", tensor.DType.ToString());
                json.WriteStartArray("shape");
                foreach (long d in tensor.Shape)
                {
                    json.WriteNumberValue(d);
                }
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset += tensor.Data.Length);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padding = (int)((8 - buffer.Length % 8) % 8);
        buffer.Write(Encoding.ASCII.GetBytes(new string(' ', padding)));
        return buffer.ToArray();
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Bad(source, "__metadata__ is not an object of strings");
        }
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw Bad(source, $"__metadata__ entry '{item.Name}' is not a string");
            }
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static (string, SafeTensorDType, long[], long, long) ReadEntry(string name, JsonElement value, int dataLength, string source)
    {
        if (value.ValueKind != JsonValueKind.Object ||
            !value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String ||
            !value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array ||
            !value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array)
        {
            throw Bad(source, $"tensor '{name}' needs \"dtype\" (string), \"shape\" and \"data_offsets\" (arrays)");
        }
        string dtypeName = dtypeElement.GetString()!;
        if (!Enum.TryParse(dtypeName, ignoreCase: false, out SafeTensorDType dtype) || !Enum.IsDefined(dtype) || dtypeName != dtype.ToString())
        {
            throw Bad(source, $"tensor '{name}' has dtype '{dtypeName}'; supported: F32, I32, F64");
        }
        long[] shape = Integers(shapeElement, name, "shape", source);
        long[] offsets = Integers(offsetsElement, name, "data_offsets", source);
        if (offsets.Length != 2 || offsets[0] > offsets[1] || offsets[1] > dataLength)
        {
            throw Bad(source, $"tensor '{name}' has data_offsets [{string.Join(", ", offsets)}] outside the {dataLength}-byte data section");
        }
        long? elements = SafeTensor.ElementCount(shape);
        long bytes = offsets[1] - offsets[0];
        if (elements is null || elements.Value > long.MaxValue / 8 || elements.Value * SafeTensor.SizeOf(dtype) != bytes)
        {
            throw Bad(source, $"tensor '{name}' of shape [{string.Join(", ", shape)}] and dtype {dtype} spans {bytes} bytes; expected Π shape · {SafeTensor.SizeOf(dtype)}");
        }
        return (name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] Integers(JsonElement array, string name, string field, string source)
    {
        var values = new List<long>();
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
            {
                throw Bad(source, $"tensor '{name}' has a {field} entry that is not a non-negative integer: {item.GetRawText()}");
            }
            values.Add(v);
        }
        return [.. values];
    }

    /// <summary>The data section must be tiled exactly: sorted by begin, each tensor starts where the previous ended.</summary>
    private static void CheckLayout(List<(string Name, long Begin, long End)> entries, int dataLength, string source)
    {
        long expected = 0;
        foreach (var (name, begin, end) in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (begin != expected)
            {
                throw Bad(source, begin < expected
                    ? $"tensor '{name}' data_offsets [{begin}, {end}] overlap the previous tensor (which ends at {expected})"
                    : $"tensor '{name}' data_offsets [{begin}, {end}] leave a gap after byte {expected}");
            }
            expected = end;
        }
        if (expected != dataLength)
        {
            throw Bad(source, $"tensors cover {expected} bytes but the data section has {dataLength} (truncated or trailing bytes)");
        }
    }

    private static InvalidDataException Bad(string source, string what) => new($"Safetensors file '{source}': {what}.");

    private static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Safetensors I/O here assumes a little-endian machine.");
        }
    }
}
