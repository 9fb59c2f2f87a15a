using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using FsCheck.Xunit;
using Lddm.Training.Checkpoints;
using Xunit;

namespace Lddm.Training.Tests.Checkpoints;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-safetensors-").FullName;

    public void Dispose()
    {
        SafeTensors.AfterHeaderWritten = null;
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Random tensors of every dtype with random bit patterns (NaN payloads, −0, subnormals included).</summary>
    private static Dictionary<string, SafeTensor> RandomTensors(int seed)
    {
        var rng = new Random(seed);
        var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        int count = rng.Next(0, 6);
        for (int k = 0; k < count; k++)
        {
            var dtype = (SafeTensorDType)rng.Next(3);
            var shape = Enumerable.Range(0, rng.Next(0, 4)).Select(_ => (long)rng.Next(0, 6)).ToArray();
            long elements = shape.Aggregate(1L, (a, d) => a * d);
            var bytes = new byte[elements * SafeTensor.SizeOf(dtype)];
            rng.NextBytes(bytes);
            tensors[$"blocks.{k}.{(char)('a' + rng.Next(26))}.weight"] = new SafeTensor(dtype, shape, bytes);
        }
        return tensors;
    }

    private string Save(Dictionary<string, SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        string path = Path.Combine(_dir, "model.safetensors");
        SafeTensors.Write(path, tensors, metadata);
        return path;
    }

    [Property(MaxTest = 60)]
    public void RoundTripIsBitExact(int seed)
    {
        var tensors = RandomTensors(seed);
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["step"] = seed.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var back = SafeTensors.Read(Save(tensors, metadata));
        Assert.Equal(tensors.Keys.Order(), back.Tensors.Keys.Order());
        foreach (var (name, tensor) in tensors)
        {
            Assert.Equal(tensor.DType, back.Tensors[name].DType);
            Assert.Equal(tensor.Shape, back.Tensors[name].Shape);
            Assert.Equal(tensor.Data, back.Tensors[name].Data);
        }
        Assert.Equal(metadata, back.Metadata);
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void LayoutFollowsTheSpecification()
    {
        var tensors = new Dictionary<string, SafeTensor>
        {
            ["b"] = SafeTensor.FromInts([1, 2, 3], 3),
            ["a"] = SafeTensor.FromFloats([1.5f, -2f], 1, 2),
            ["c"] = SafeTensor.FromDoubles([Math.PI]),
        };
        byte[] file = File.ReadAllBytes(Save(tensors));
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0, (8 + n) % 8);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(file, 8, (int)n));
        Assert.Equal(["a", "b", "c"], header.RootElement.EnumerateObject().Select(p => p.Name));
        var b = header.RootElement.GetProperty("b");
        Assert.Equal("I32", b.GetProperty("dtype").GetString());
        Assert.Equal([8L, 20L], b.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan((int)(8 + n + 8 + 4))));
        Assert.Equal(Math.PI, SafeTensors.Read(Path.Combine(_dir, "model.safetensors")).Tensors["c"].ToDoubles()[0]);
        Assert.Equal(file.Length, 8 + n + 8 + 12 + 8);
    }

    /// <summary>A file whose header is <paramref name="json"/> and whose data section has <paramref name="dataBytes"/> bytes.</summary>
    private string Handmade(string json, int dataBytes)
    {
        byte[] header = Encoding.UTF8.GetBytes(json);
        var file = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        string path = Path.Combine(_dir, "handmade.safetensors");
        File.WriteAllBytes(path, file);
        return path;
    }

    private static void AssertInvalid(string path, params string[] fragments)
    {
        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path));
        Assert.Contains(path, error.Message);
        foreach (string fragment in fragments)
        {
            Assert.Contains(fragment, error.Message);
        }
    }

    [Fact]
    public void TruncatedFileGivesAClearError()
    {
        string path = Save(new Dictionary<string, SafeTensor> { ["w"] = SafeTensor.FromFloats(new float[16], 4, 4) });
        byte[] full = File.ReadAllBytes(path);
        File.WriteAllBytes(path, full[..(full.Length - 4)]);
        AssertInvalid(path, "data section");
        File.WriteAllBytes(path, full[..20]);
        AssertInvalid(path, "header length");
        File.WriteAllBytes(path, full[..5]);
        AssertInvalid(path, "truncated");
    }

    [Fact]
    public void CorruptedHeaderGivesAClearError()
    {
        AssertInvalid(Handmade("{\"w\": {\"dtype\": \"F32\", ", 0), "well-formed JSON");
        AssertInvalid(Handmade("[1, 2]", 0), "not a JSON object");
        AssertInvalid(Handmade("{\"w\": {\"dtype\": \"BF16\", \"shape\": [1], \"data_offsets\": [0, 2]}}", 2), "'w'", "BF16");
        AssertInvalid(Handmade("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4), "'w'", "dtype");
        AssertInvalid(Handmade("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4), "'w'", "shape");
        AssertInvalid(Handmade("{\"__metadata__\": {\"k\": 3}}", 0), "__metadata__");
        AssertInvalid(Handmade("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8), "'w' twice");
    }

    [Fact]
    public void WrongOffsetsGiveAClearError()
    {
        const string two = "{{\"a\": {{\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [{0}, {1}]}}, \"b\": {{\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [{2}, {3}]}}}}";
        AssertInvalid(Handmade(string.Format(System.Globalization.CultureInfo.InvariantCulture, two, 0, 8, 4, 8), 12), "'b'", "overlap");
        AssertInvalid(Handmade(string.Format(System.Globalization.CultureInfo.InvariantCulture, two, 0, 8, 12, 16), 16), "'b'", "gap");
        AssertInvalid(Handmade(string.Format(System.Globalization.CultureInfo.InvariantCulture, two, 0, 8, 8, 16), 12), "'b'", "outside");
        AssertInvalid(Handmade(string.Format(System.Globalization.CultureInfo.InvariantCulture, two, 0, 4, 4, 8), 8), "'a'", "expected");
        AssertInvalid(Handmade(string.Format(System.Globalization.CultureInfo.InvariantCulture, two, 0, 8, 8, 12), 16), "trailing");
    }

    [Fact]
    public void AtomicWriteLeavesOnlyTheFinalFile()
    {
        string path = Save(RandomTensors(1));
        Save(RandomTensors(2));
        Assert.Equal([path], Directory.GetFiles(_dir));
        Assert.Equal(RandomTensors(2).Keys.Order(), SafeTensors.Read(path).Tensors.Keys.Order());
    }

    [Fact]
    public void InterruptedWriteKeepsThePreviousFileIntact()
    {
        var good = new Dictionary<string, SafeTensor> { ["w"] = SafeTensor.FromFloats([1f, 2f, 3f], 3) };
        string path = Save(good);
        byte[] before = File.ReadAllBytes(path);
        string? tempSeen = null;
        SafeTensors.AfterHeaderWritten = temp =>
        {
            tempSeen = temp;
            Assert.True(File.Exists(temp));
            throw new IOException("simulated crash in the middle of the write");
        };
        Assert.Throws<IOException>(() => Save(new Dictionary<string, SafeTensor> { ["w"] = SafeTensor.FromFloats([9f, 9f, 9f, 9f], 4) }));
        Assert.NotNull(tempSeen);
        Assert.StartsWith(path + ".tmp-", tempSeen);
        Assert.Equal([path], Directory.GetFiles(_dir));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([1f, 2f, 3f], SafeTensors.Read(path).Tensors["w"].ToFloats());
    }

    [Fact]
    public void TensorBytesMustMatchTheShape()
    {
        var error = Assert.Throws<ArgumentException>(() => new SafeTensor(SafeTensorDType.F64, [2, 3], new byte[40]));
        Assert.Contains("48", error.Message);
        Assert.Throws<InvalidOperationException>(() => SafeTensor.FromInts([1], 1).ToFloats());
    }
}
