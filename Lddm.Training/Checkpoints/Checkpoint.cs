using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Training.Optim;

namespace Lddm.Training.Checkpoints;

/// <summary>
/// A training run's checkpoints in one directory. Each save writes a complete snapshot into
/// <c>step-NNNNNNNN/</c> (weights, EMA weights and optimizer moments as safetensors with the modules' dotted
/// names, and <c>state.json</c> with the resolved config, step and counters), then atomically replaces the
/// <c>latest</c> pointer file. A crash mid-save leaves the previous snapshot intact and still pointed to;
/// the two newest snapshots are kept.
/// </summary>
public sealed class CheckpointStore(string directory)
{
    public const int FormatVersion = 1;
    private const string LatestFile = "latest";

    public string Directory { get; } = Path.GetFullPath(directory);

    /// <summary>What a checkpoint holds besides tensors.</summary>
    public sealed record State(JsonObject Config, int Step, int OptimizerSteps, int EmaUpdates, ulong Seed);

    /// <summary>Writes a snapshot of <paramref name="model"/> (and optimizer/EMA when given) for <paramref name="state"/>.</summary>
    public string Save(Module model, AdamW? optimizer, Ema? ema, State state)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string name = $"step-{state.Step.ToString("D8", CultureInfo.InvariantCulture)}";
        string snapshot = Path.Combine(Directory, name);
        System.IO.Directory.CreateDirectory(snapshot);
        var meta = new Dictionary<string, string> { ["step"] = state.Step.ToString(CultureInfo.InvariantCulture) };
        SafeTensors.Write(Path.Combine(snapshot, "model.safetensors"),
            model.NamedParameters().ToDictionary(np => np.Name, np => ToSafe(np.Parameter.Data, np.Parameter.Shape)), meta);
        if (ema is not null)
        {
            var shapes = model.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter.Shape);
            SafeTensors.Write(Path.Combine(snapshot, "ema.safetensors"),
                ema.State().ToDictionary(s => s.Name, s => ToSafe(s.Shadow, shapes[s.Name])), meta);
        }
        if (optimizer is not null)
        {
            var tensors = new Dictionary<string, SafeTensor>();
            foreach (var (n, m, v) in optimizer.State())
            {
                tensors[n + ".m"] = SafeTensor.FromFloats(m.ToArray(), m.Length);
                tensors[n + ".v"] = SafeTensor.FromFloats(v.ToArray(), v.Length);
            }
            SafeTensors.Write(Path.Combine(snapshot, "optimizer.safetensors"), tensors, meta);
        }
        var json = new JsonObject
        {
            ["format_version"] = FormatVersion,
            ["step"] = state.Step,
            ["optimizer_steps"] = state.OptimizerSteps,
            ["ema_updates"] = state.EmaUpdates,
            ["seed"] = state.Seed,
            ["has_optimizer"] = optimizer is not null,
            ["has_ema"] = ema is not null,
            ["config"] = state.Config.DeepClone(),
        };
        AtomicFile.WriteAllText(Path.Combine(snapshot, "state.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        AtomicFile.WriteAllText(Path.Combine(Directory, LatestFile), name + "\n");
        Prune(keep: 2);
        return snapshot;
    }

    /// <summary>True when the directory holds a committed checkpoint.</summary>
    public bool Exists => File.Exists(Path.Combine(Directory, LatestFile));

    /// <summary>Reads the state of the latest snapshot, with clear errors for a missing or corrupt checkpoint.</summary>
    public State ReadState() => ReadState(LatestSnapshot());

    /// <summary>
    /// Loads the latest snapshot into <paramref name="model"/> (and optimizer/EMA when given), after checking that
    /// every name and shape matches and, when <paramref name="expectedConfig"/> is given, that the config matches (a
    /// key the saved config lacks counts as its value in <paramref name="defaults"/>, when given).
    /// </summary>
    public State Load(Module model, AdamW? optimizer = null, Ema? ema = null, JsonObject? expectedConfig = null, JsonObject? defaults = null)
    {
        string snapshot = LatestSnapshot();
        var state = ReadState(snapshot);
        if (expectedConfig is not null)
        {
            var diffs = ConfigDiff.Between(state.Config, expectedConfig, defaults);
            if (diffs.Count > 0)
            {
                throw new InvalidDataException($"Checkpoint {snapshot} was trained with a different config: " + string.Join("; ", diffs) + ".");
            }
        }
        var shapes = model.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter.Shape);
        var weights = SafeTensors.Read(Path.Combine(snapshot, "model.safetensors")).Tensors;
        CheckNames(snapshot, "model.safetensors", weights, shapes);
        foreach (var (name, p) in model.NamedParameters())
        {
            p.Data.CopyFrom(weights[name].ToFloats());
        }
        if (ema is not null)
        {
            // The EMA (like the optimizer) covers only the trained parameters: a frozen encoder has no shadow.
            var shadows = SafeTensors.Read(Path.Combine(snapshot, "ema.safetensors")).Tensors;
            CheckNames(snapshot, "ema.safetensors", shadows, Subset(shapes, ema.State().Select(s => s.Name)));
            foreach (var (name, shadow) in ema.State())
            {
                shadow.CopyFrom(shadows[name].ToFloats());
            }
            ema.RestoreUpdates(state.EmaUpdates);
        }
        if (optimizer is not null)
        {
            var moments = SafeTensors.Read(Path.Combine(snapshot, "optimizer.safetensors")).Tensors;
            var expected = Subset(shapes, optimizer.State().Select(s => s.Name)).SelectMany(kv => new[] { (kv.Key + ".m", kv.Value), (kv.Key + ".v", kv.Value) })
                .ToDictionary(x => x.Item1, x => new Shape(x.Value.Elements));
            CheckNames(snapshot, "optimizer.safetensors", moments, expected);
            foreach (var (name, m, v) in optimizer.State())
            {
                m.CopyFrom(moments[name + ".m"].ToFloats());
                v.CopyFrom(moments[name + ".v"].ToFloats());
            }
            optimizer.RestoreStepCount(state.OptimizerSteps);
        }
        return state;
    }

    /// <summary>What <see cref="LoadInitialWeights"/> did.</summary>
    /// <param name="Source">The safetensors file the weights came from (the EMA weights when the snapshot has them).</param>
    /// <param name="Loaded">Network parameters overwritten from the checkpoint.</param>
    /// <param name="Kept">Network parameters the checkpoint does not hold (they keep their initialisation).</param>
    public sealed record InitialWeights(string Source, int Step, IReadOnlyList<string> Loaded, IReadOnlyList<string> Kept);

    /// <summary>
    /// Starts <paramref name="model"/> from the latest snapshot (SEQ stage 2 from stage 1): its EMA weights, or its
    /// weights when it has no EMA, go into every parameter of the same name; parameters the checkpoint lacks keep
    /// their initialisation. A checkpoint tensor with no parameter of that name, or of another shape, is an error.
    /// </summary>
    /// <param name="prefix">When given, only the checkpoint's tensors named <c>prefix…</c> are read (e.g. "encoder." to
    /// take one sub-network out of a larger run); the rest are ignored.</param>
    public InitialWeights LoadInitialWeights(Module model, string? prefix = null)
    {
        string snapshot = LatestSnapshot();
        var state = ReadState(snapshot);
        string source = InitialWeightsFile(snapshot);
        var tensors = SafeTensors.Read(source).Tensors
            .Where(kv => prefix is null || kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        var parameters = model.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter);
        var problems = new List<string>();
        foreach (var (name, t) in tensors)
        {
            if (!parameters.TryGetValue(name, out var p))
            {
                problems.Add($"'{name}' is not a parameter of the network");
            }
            else if (!t.Shape.Select(d => (int)d).SequenceEqual(p.Shape))
            {
                problems.Add($"'{name}' has shape ({string.Join(", ", t.Shape)}) but the network needs {p.Shape}");
            }
        }
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"Cannot initialise from {source}: {string.Join("; ", problems)}.");
        }
        var loaded = new List<string>();
        var kept = new List<string>();
        foreach (var (name, p) in parameters)
        {
            if (tensors.TryGetValue(name, out var t))
            {
                p.Data.CopyFrom(t.ToFloats());
                loaded.Add(name);
            }
            else
            {
                kept.Add(name);
            }
        }
        return new InitialWeights(source, state.Step, loaded, kept);
    }

    /// <summary>
    /// The file <see cref="LoadInitialWeights"/> reads: the latest snapshot's EMA weights, or its weights when it has no
    /// EMA (what a frozen encoder's SHA-256 is taken of).
    /// </summary>
    public string InitialWeightsFile() => InitialWeightsFile(LatestSnapshot());

    private static string InitialWeightsFile(string snapshot)
    {
        string ema = Path.Combine(snapshot, "ema.safetensors");
        return File.Exists(ema) ? ema : Path.Combine(snapshot, "model.safetensors");
    }

    private static Dictionary<string, Shape> Subset(Dictionary<string, Shape> shapes, IEnumerable<string> names) =>
        names.ToDictionary(n => n, n => shapes.TryGetValue(n, out var s) ? s
            : throw new ArgumentException($"Parameter '{n}' is tracked by the optimizer/EMA but is not in the model.", nameof(names)));

    private string LatestSnapshot()
    {
        string pointer = Path.Combine(Directory, LatestFile);
        if (!File.Exists(pointer))
        {
            throw new FileNotFoundException($"No checkpoint in '{Directory}': the '{LatestFile}' file is missing (was training ever saved there?).", pointer);
        }
        string name = File.ReadAllText(pointer).Trim();
        string snapshot = Path.Combine(Directory, name);
        if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || !System.IO.Directory.Exists(snapshot))
        {
            throw new InvalidDataException($"Checkpoint pointer '{pointer}' names '{name}', which is not a snapshot directory in '{Directory}'.");
        }
        return snapshot;
    }

    private static State ReadState(string snapshot)
    {
        string path = Path.Combine(snapshot, "state.json");
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"Checkpoint {snapshot} is incomplete: state.json is missing.");
        }
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException("empty");
            int version = json["format_version"]!.GetValue<int>();
            if (version != FormatVersion)
            {
                throw new InvalidDataException($"format version {version}, expected {FormatVersion}");
            }
            return new State(json["config"]!.AsObject().DeepClone().AsObject(), json["step"]!.GetValue<int>(),
                json["optimizer_steps"]!.GetValue<int>(), json["ema_updates"]!.GetValue<int>(), json["seed"]!.GetValue<ulong>());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or InvalidDataException or FormatException)
        {
            throw new InvalidDataException($"Checkpoint {path} is corrupt: {e.Message}", e);
        }
    }

    private static void CheckNames(string snapshot, string file, IReadOnlyDictionary<string, SafeTensor> found, Dictionary<string, Shape> expected)
    {
        var problems = new List<string>();
        foreach (var (name, shape) in expected)
        {
            if (!found.TryGetValue(name, out var t))
            {
                problems.Add($"missing '{name}' {shape}");
            }
            else if (!t.Shape.Select(d => (int)d).SequenceEqual(shape))
            {
                problems.Add($"'{name}' has shape ({string.Join(", ", t.Shape)}) but the model needs {shape}");
            }
        }
        problems.AddRange(found.Keys.Where(n => !expected.ContainsKey(n)).Select(n => $"unexpected '{n}'"));
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"Checkpoint {Path.Combine(snapshot, file)} does not match the model: {string.Join("; ", problems)}.");
        }
    }

    private static SafeTensor ToSafe(DeviceBuffer<float> data, Shape shape) =>
        SafeTensor.FromFloats(data.ToArray(), shape.Select(d => (long)d).ToArray());

    private void Prune(int keep)
    {
        var snapshots = System.IO.Directory.GetDirectories(Directory, "step-*").OrderBy(d => d, StringComparer.Ordinal).ToList();
        foreach (var old in snapshots.Take(Math.Max(0, snapshots.Count - keep)))
        {
            System.IO.Directory.Delete(old, recursive: true);
        }
    }
}
