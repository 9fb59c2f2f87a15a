using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using FsCheck.Xunit;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Checkpoints;
using Lddm.Training.Optim;
using Xunit;

namespace Lddm.Training.Tests.Checkpoints;

/// <summary>
/// The adversary's view of the safetensors reader and the checkpoint loader: random truncations, bit flips in the
/// header and the data, crafted offsets, shapes, dtypes and invalid UTF-8. Every case either loads exactly what was
/// saved or raises the one documented exception (<see cref="InvalidDataException"/>), within a bounded time.
/// </summary>
public sealed class CheckpointFuzzTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-fuzz-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Runs <paramref name="action"/>; returns the exception it threw (null when none), failing on a hang.</summary>
    private static Exception? Attempt(Action action)
    {
        var task = Task.Run(action);
        // A hang guard, not a speed test: a file of a few kB parses in microseconds.
        Assert.True(((IAsyncResult)task).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)), "the reader did not return within 30 s");
        return task.Exception?.InnerException;
    }

    private static void AssertDocumented(Exception? e, string what)
    {
        if (e is not null && e is not InvalidDataException)
        {
            Assert.Fail($"{what}: {e.GetType().Name} escaped instead of InvalidDataException: {e}");
        }
        if (e is not null)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
        }
    }

    /// <summary>One mutation of a file's bytes, chosen by <paramref name="rng"/>; the header is [8, 8 + n).</summary>
    private static byte[] Mutate(byte[] original, Random rng, out string what)
    {
        var bytes = (byte[])original.Clone();
        int headerEnd = 8 + (int)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(bytes), (ulong)(bytes.Length - 8));
        switch (rng.Next(8))
        {
            case 0:
                int cut = rng.Next(bytes.Length);
                what = $"truncated to {cut} bytes";
                return bytes[..cut];
            case 1:
                int h = rng.Next(8, headerEnd);
                bytes[h] ^= (byte)(1 << rng.Next(8));
                what = $"header bit flip at {h}";
                return bytes;
            case 2 when bytes.Length > headerEnd:
                int d = rng.Next(headerEnd, bytes.Length);
                bytes[d] ^= (byte)(1 << rng.Next(8));
                what = $"data bit flip at {d}";
                return bytes;
            case 3:
                int l = rng.Next(8);
                bytes[l] ^= (byte)(1 << rng.Next(8));
                what = $"header-length bit flip at {l}";
                return bytes;
            case 4:
                // Invalid UTF-8 inside the header: a lone continuation byte, an overlong form or a surrogate.
                byte[][] bad = [[0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xFF]];
                var seq = bad[rng.Next(bad.Length)];
                int at = rng.Next(9, Math.Max(10, headerEnd - seq.Length));
                seq.CopyTo(bytes, Math.Min(at, headerEnd - seq.Length));
                what = $"invalid UTF-8 at {at}";
                return bytes;
            default:
                // Crafted header: a number in the header (offset, shape or dtype) replaced by an extreme value.
                string header = Encoding.UTF8.GetString(bytes, 8, headerEnd - 8);
                string[] swaps = ["\"F32\"", "\"F64\"", "\"I32\"", "\"BF16\"", "[", "-1", "9223372036854775807", "4294967296", "1e300", "null", "\"x\""];
                var digits = Enumerable.Range(0, header.Length).Where(i => char.IsDigit(header[i]) || header[i] == '"').ToList();
                int pos = digits.Count == 0 ? 0 : digits[rng.Next(digits.Count)];
                string swap = swaps[rng.Next(swaps.Length)];
                string crafted = header[..pos] + swap + header[(pos + 1)..];
                var head = Encoding.UTF8.GetBytes(crafted);
                var result = new byte[8 + head.Length + (bytes.Length - headerEnd)];
                BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)head.Length);
                head.CopyTo(result, 8);
                bytes.AsSpan(headerEnd).CopyTo(result.AsSpan(8 + head.Length));
                what = $"header byte {pos} replaced by {swap}";
                return result;
        }
    }

    private static Dictionary<string, SafeTensor> RandomTensors(Random rng)
    {
        var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        for (int k = 0, n = rng.Next(1, 5); k < n; k++)
        {
            var dtype = (SafeTensorDType)rng.Next(3);
            var shape = Enumerable.Range(0, rng.Next(0, 3)).Select(_ => (long)rng.Next(1, 5)).ToArray();
            var bytes = new byte[shape.Aggregate(1L, (a, x) => a * x) * SafeTensor.SizeOf(dtype)];
            rng.NextBytes(bytes);
            tensors[$"t{k}.{(char)('a' + rng.Next(26))}"] = new SafeTensor(dtype, shape, bytes);
        }
        return tensors;
    }

    [Property(MaxTest = 300)]
    public void The_reader_returns_a_consistent_file_or_raises_InvalidDataException(int seed)
    {
        var rng = new Random(seed);
        var tensors = RandomTensors(rng);
        string path = Path.Combine(_dir, $"f{seed}.safetensors");
        SafeTensors.Write(path, tensors, new Dictionary<string, string> { ["step"] = "7" });
        var mutated = Mutate(File.ReadAllBytes(path), rng, out string what);
        SafeTensorsContent? content = null;
        var e = Attempt(() => content = SafeTensors.Parse(mutated, what));
        AssertDocumented(e, what);
        if (content is not null)
        {
            // Whatever parsed must be internally consistent: every tensor's bytes match its dtype and shape.
            foreach (var t in content.Tensors.Values)
            {
                Assert.Equal(SafeTensor.ElementCount(t.Shape)!.Value * SafeTensor.SizeOf(t.DType), t.Data.Length);
            }
        }
    }

    [Property(MaxTest = 120)]
    public void The_reader_with_a_recorded_hash_refuses_every_changed_byte(int seed)
    {
        var rng = new Random(seed);
        string path = Path.Combine(_dir, $"h{seed}.safetensors");
        string hash = SafeTensors.Write(path, RandomTensors(rng));
        var original = File.ReadAllBytes(path);
        var mutated = Mutate(original, rng, out string what);
        File.WriteAllBytes(path, mutated);
        var e = Attempt(() => SafeTensors.Read(path, hash));
        if (mutated.AsSpan().SequenceEqual(original))
        {
            Assert.Null(e);
        }
        else
        {
            Assert.IsType<InvalidDataException>(e);
        }
    }

    private sealed class Net : Module
    {
        public Net(Backend backend) : base(backend)
        {
            AddParameter("w", Init.Normal(1f), 4, 3);
            AddParameter("b", Init.Uniform(1f), 3);
        }
    }

    private static JsonObject Config() => new() { ["model"] = "test", ["lr"] = 0.001 };

    [Property(MaxTest = 120)]
    public void The_checkpoint_loader_loads_what_was_saved_or_raises_InvalidDataException(int seed)
    {
        var rng = new Random(seed);
        string dir = Path.Combine(_dir, $"run{seed}");
        using var net = new Net(TestBackends.Cpu);
        net.Initialize((ulong)seed);
        using var opt = new AdamW(net.NamedParameters(), new AdamWConfig());
        using var ema = new Ema(net.NamedParameters(), 0.9);
        ema.Update();
        var store = new CheckpointStore(dir);
        string snapshot = store.Save(net, opt, ema, new CheckpointStore.State(Config(), 3, 1, 1, 5));
        string[] files = ["model.safetensors", "ema.safetensors", "optimizer.safetensors", "state.json"];
        string file = Path.Combine(snapshot, files[rng.Next(files.Length)]);
        var original = File.ReadAllBytes(file);
        byte[] mutated;
        string what;
        if (file.EndsWith(".json", StringComparison.Ordinal))
        {
            mutated = (byte[])original.Clone();
            int i = rng.Next(mutated.Length);
            mutated[i] ^= (byte)(1 << rng.Next(8));
            what = $"state.json bit flip at {i}";
            if (rng.Next(3) == 0)
            {
                mutated = original[..rng.Next(original.Length)];
                what = $"state.json truncated to {mutated.Length}";
            }
        }
        else
        {
            mutated = Mutate(original, rng, out what);
        }
        File.WriteAllBytes(file, mutated);

        using var net2 = new Net(TestBackends.Cpu);
        using var opt2 = new AdamW(net2.NamedParameters(), new AdamWConfig());
        using var ema2 = new Ema(net2.NamedParameters(), 0.9);
        var e = Attempt(() => store.Load(net2, opt2, ema2, Config()));
        AssertDocumented(e, $"{Path.GetFileName(file)}: {what}");
        if (e is null)
        {
            // Loaded: the weights, EMA and moments are exactly the saved ones (a flip that survives changed nothing
            // the loader reads, e.g. JSON whitespace).
            foreach (var ((_, a), (_, b)) in net.NamedParameters().Zip(net2.NamedParameters()))
            {
                Assert.Equal(a.ToArray(), b.ToArray());
            }
            foreach (var ((_, s1), (_, s2)) in ema.State().Zip(ema2.State()))
            {
                Assert.Equal(s1.ToArray(), s2.ToArray());
            }
            foreach (var ((_, m1, v1), (_, m2, v2)) in opt.State().Zip(opt2.State()))
            {
                Assert.Equal((m1.ToArray(), v1.ToArray()), (m2.ToArray(), v2.ToArray()));
            }
        }
        else if (!file.EndsWith(".json", StringComparison.Ordinal) && !mutated.AsSpan().SequenceEqual(original))
        {
            Assert.Contains(Path.GetFileName(file), e.Message); // the error names the file
        }
    }

    [Fact]
    public void One_flipped_data_byte_is_refused_naming_the_file_and_the_hash()
    {
        using var net = new Net(TestBackends.Cpu);
        net.Initialize(1);
        var store = new CheckpointStore(_dir);
        string snapshot = store.Save(net, null, null, new CheckpointStore.State(Config(), 1, 0, 0, 1));
        string weights = Path.Combine(snapshot, "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        bytes[^3] ^= 0x01; // the low mantissa bit of one weight: a silently different model without the hash
        File.WriteAllBytes(weights, bytes);
        var e = Assert.Throws<InvalidDataException>(() => store.Load(new Net(TestBackends.Cpu)));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("SHA-256", e.Message);
    }

    [Theory]
    [InlineData(SafeTensorDType.F64)]
    [InlineData(SafeTensorDType.I32)]
    public void A_tensor_of_another_dtype_is_refused_with_its_name_and_shape(SafeTensorDType dtype)
    {
        using var net = new Net(TestBackends.Cpu);
        var store = new CheckpointStore(_dir);
        string snapshot = store.Save(net, null, null, new CheckpointStore.State(Config(), 1, 0, 0, 1));
        // A valid safetensors file, with the hash recorded, that stores 'b' in another dtype.
        var tensors = SafeTensors.Read(Path.Combine(snapshot, "model.safetensors")).Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        tensors["b"] = new SafeTensor(dtype, [3], new byte[3 * SafeTensor.SizeOf(dtype)]);
        RewriteWithHash(snapshot, "model.safetensors", tensors);
        var e = Assert.Throws<InvalidDataException>(() => store.Load(new Net(TestBackends.Cpu)));
        Assert.Contains($"'b' (3) holds {dtype} but the model needs F32", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Non_finite_weights_are_refused_naming_the_tensor(float poison)
    {
        using var net = new Net(TestBackends.Cpu);
        net.Initialize(2);
        var values = net.NamedParameters().Single(np => np.Name == "w").Parameter.ToArray();
        values[5] = poison;
        net.NamedParameters().Single(np => np.Name == "w").Parameter.Load(values);
        var store = new CheckpointStore(_dir);
        store.Save(net, null, null, new CheckpointStore.State(Config(), 1, 0, 0, 1)); // hashes match: the file is "valid"
        var e = Assert.Throws<InvalidDataException>(() => store.Load(new Net(TestBackends.Cpu)));
        Assert.Contains("tensor 'w' holds 1 non-finite value(s) (element 5", e.Message);
        var init = Assert.Throws<InvalidDataException>(() => store.LoadInitialWeights(new Net(TestBackends.Cpu)));
        Assert.Contains("'w'", init.Message);
    }

    [Fact]
    public void A_checkpoint_written_before_hashes_loads_and_says_unverified_once()
    {
        using var net = new Net(TestBackends.Cpu);
        net.Initialize(4);
        using var ema = new Ema(net.NamedParameters(), 0.9);
        var store = new CheckpointStore(_dir);
        string snapshot = store.Save(net, null, ema, new CheckpointStore.State(Config(), 2, 0, 1, 1));
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(snapshot, "state.json")))!.AsObject();
        Assert.True(state.Remove("sha256")); // the format as written before this change
        File.WriteAllText(Path.Combine(snapshot, "state.json"), state.ToJsonString());
        var warnings = new List<string>();
        var old = new CheckpointStore(_dir) { Warn = warnings.Add };
        using var net2 = new Net(TestBackends.Cpu);
        using var ema2 = new Ema(net2.NamedParameters(), 0.9);
        Assert.Equal(2, old.Load(net2, null, ema2, Config()).Step);
        Assert.Equal(net.Parameters().First().ToArray(), net2.Parameters().First().ToArray());
        Assert.Contains("unverified", Assert.Single(warnings));
    }

    [Fact]
    public void A_directory_where_a_tensor_file_should_be_is_the_documented_exception()
    {
        using var net = new Net(TestBackends.Cpu);
        var store = new CheckpointStore(_dir);
        string snapshot = store.Save(net, null, null, new CheckpointStore.State(Config(), 1, 0, 0, 1));
        File.Delete(Path.Combine(snapshot, "model.safetensors"));
        Directory.CreateDirectory(Path.Combine(snapshot, "model.safetensors"));
        var e = Assert.Throws<InvalidDataException>(() => store.Load(new Net(TestBackends.Cpu)));
        Assert.Contains("is a directory", e.Message);
        Assert.Throws<InvalidDataException>(() => SafeTensors.Read(Path.Combine(snapshot, "missing.safetensors")));
    }

    [Theory]
    [InlineData("ema_updates", null, "'ema_updates' is missing")]
    [InlineData("step", -40, "expected 0 ≤ optimizer_steps, ema_updates ≤ step")]
    [InlineData("optimizer_steps", int.MaxValue, "expected 0 ≤ optimizer_steps, ema_updates ≤ step")]
    [InlineData("step", "7", "'step' is \"7\", not a Int32")]
    public void Corrupt_counters_in_state_json_are_named(string key, object? value, string expected)
    {
        using var net = new Net(TestBackends.Cpu);
        var store = new CheckpointStore(_dir);
        string snapshot = store.Save(net, null, null, new CheckpointStore.State(Config(), 3, 3, 0, 1));
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(snapshot, "state.json")))!.AsObject();
        state.Remove(key);
        if (value is not null)
        {
            state[key] = JsonValue.Create(value);
        }
        File.WriteAllText(Path.Combine(snapshot, "state.json"), state.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => store.Load(new Net(TestBackends.Cpu)));
        Assert.Contains(expected, e.Message);
        Assert.Contains("state.json", e.Message);
    }

    private static void RewriteWithHash(string snapshot, string file, Dictionary<string, SafeTensor> tensors)
    {
        string hash = SafeTensors.Write(Path.Combine(snapshot, file), tensors);
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(snapshot, "state.json")))!.AsObject();
        state["sha256"]![file] = hash;
        File.WriteAllText(Path.Combine(snapshot, "state.json"), state.ToJsonString());
    }
}
