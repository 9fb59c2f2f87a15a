using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Training.Optim;

namespace Lddm.Training.Checkpoints;

/// <summary>
/// A training run's checkpoints in one directory. Each save writes a complete snapshot (weights, EMA weights and
/// optimizer moments as safetensors with the modules' dotted names, and <c>state.json</c> with the resolved config,
/// step, counters and the SHA-256 of every tensor file) into a temporary <c>.tmp-step-NNNNNNNN-&lt;guid&gt;/</c>, renames
/// it to <c>step-NNNNNNNN/</c> (the commit), then atomically replaces the <c>latest</c> pointer file. A kill at any
/// moment leaves the previous snapshot or the new one (<see cref="Recover"/> cleans the rest); the two newest
/// snapshots are kept. Every problem with what is on disk is an <see cref="InvalidDataException"/> naming the file
/// (the one documented checkpoint exception; a missing checkpoint is a <see cref="FileNotFoundException"/>).
/// Paths in the config (<c>init</c>, <c>encoder_checkpoint</c>) are stored relative to the run folder, so a moved run
/// folder still resumes.
/// </summary>
public sealed class CheckpointStore(string directory)
{
    public const int FormatVersion = 1;
    private const string LatestFile = "latest";
    private const string RunConfigFile = "run.json";
    private const string TempPrefix = ".tmp-";

    private static readonly System.Text.RegularExpressions.Regex s_tempFolder = new(@"^\.tmp-(step-\d+|old)-[0-9a-f]{32}$");
    private static readonly System.Text.RegularExpressions.Regex s_tempFile = new(@"\.tmp-[0-9a-f]{32}$");

    /// <summary>Config keys holding paths: stored relative to the run folder, read back as absolute paths.</summary>
    private static readonly string[] s_pathKeys = ["init", "encoder_checkpoint"];

    public string Directory { get; } = Path.GetFullPath(directory);

    /// <summary>Where warnings go (a checkpoint without hashes loads "unverified"); null: nowhere.</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>What a checkpoint holds besides tensors.</summary>
    public sealed record State(JsonObject Config, int Step, int OptimizerSteps, int EmaUpdates, ulong Seed);

    /// <summary>Writes a snapshot of <paramref name="model"/> (and optimizer/EMA when given) for <paramref name="state"/>.</summary>
    public string Save(Module model, AdamW? optimizer, Ema? ema, State state)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string name = $"step-{state.Step.ToString("D8", CultureInfo.InvariantCulture)}";
        string snapshot = Path.Combine(Directory, name);
        string temp = Path.Combine(Directory, $"{TempPrefix}{name}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(temp);
        try
        {
            var hashes = new JsonObject();
            var meta = new Dictionary<string, string> { ["step"] = state.Step.ToString(CultureInfo.InvariantCulture) };
            void Write(string file, Dictionary<string, SafeTensor> tensors)
            {
                hashes[file] = SafeTensors.Write(Path.Combine(temp, file), tensors, meta);
                FaultInjection.Hit("snapshot-file");
            }
            Write("model.safetensors", model.NamedParameters().ToDictionary(np => np.Name, np => ToSafe(np.Parameter.Data, np.Parameter.Shape)));
            if (ema is not null)
            {
                var shapes = model.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter.Shape);
                Write("ema.safetensors", ema.State().ToDictionary(s => s.Name, s => ToSafe(s.Shadow, shapes[s.Name])));
            }
            if (optimizer is not null)
            {
                var tensors = new Dictionary<string, SafeTensor>();
                foreach (var (n, m, v) in optimizer.State())
                {
                    tensors[n + ".m"] = SafeTensor.FromFloats(m.ToArray(), m.Length);
                    tensors[n + ".v"] = SafeTensor.FromFloats(v.ToArray(), v.Length);
                }
                Write("optimizer.safetensors", tensors);
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
                ["sha256"] = hashes,
                ["config"] = RelativePaths(state.Config),
            };
            AtomicFile.WriteAllText(Path.Combine(temp, "state.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Commit(temp, snapshot);
        }
        finally
        {
            if (System.IO.Directory.Exists(temp))
            {
                System.IO.Directory.Delete(temp, recursive: true);
            }
        }
        FaultInjection.Hit("snapshot-renamed");
        AtomicFile.WriteAllText(Path.Combine(Directory, LatestFile), name + "\n");
        Prune(keep: 2, latest: name);
        return snapshot;
    }

    /// <summary>Renames the finished temporary snapshot into place; a same-named snapshot (the same step saved again) is swapped out.</summary>
    private static void Commit(string temp, string snapshot)
    {
        if (!System.IO.Directory.Exists(snapshot))
        {
            System.IO.Directory.Move(temp, snapshot);
            return;
        }
        string old = Path.Combine(Path.GetDirectoryName(snapshot)!, $"{TempPrefix}old-{Guid.NewGuid():N}");
        System.IO.Directory.Move(snapshot, old);
        System.IO.Directory.Move(temp, snapshot);
        System.IO.Directory.Delete(old, recursive: true);
    }

    /// <summary>
    /// Run at the start of training (under the run's lock): deletes temporary files and folders a killed save left
    /// behind, and points <c>latest</c> at the newest committed snapshot when the pointer is missing, stale or behind
    /// (a kill between the snapshot's rename and the pointer's update). Returns what it did, one line per action.
    /// </summary>
    public IReadOnlyList<string> Recover()
    {
        var actions = new List<string>();
        if (!System.IO.Directory.Exists(Directory))
        {
            return actions;
        }
        // Only what this class and AtomicFile/SafeTensors create: temporary snapshot folders at the top, and
        // "<file>.tmp-<32 hex>" files at the top or inside a snapshot (nothing else in a user's folder is touched).
        var orphans = System.IO.Directory.GetDirectories(Directory, TempPrefix + "*").Where(d => s_tempFolder.IsMatch(Path.GetFileName(d)))
            .Concat(System.IO.Directory.GetDirectories(Directory, "step-*").Prepend(Directory)
                .SelectMany(d => System.IO.Directory.GetFiles(d, "*.tmp-*")).Where(f => s_tempFile.IsMatch(Path.GetFileName(f))));
        foreach (string entry in orphans.ToList())
        {
            if (System.IO.Directory.Exists(entry))
            {
                System.IO.Directory.Delete(entry, recursive: true);
            }
            else
            {
                File.Delete(entry);
            }
            actions.Add($"removed the orphaned temporary '{Path.GetRelativePath(Directory, entry)}' of an interrupted save");
        }
        string? newest = System.IO.Directory.GetDirectories(Directory, "step-*").Select(Path.GetFileName)
            .Where(n => File.Exists(Path.Combine(Directory, n!, "state.json"))).Order(StringComparer.Ordinal).LastOrDefault();
        string pointer = Path.Combine(Directory, LatestFile);
        string? current = File.Exists(pointer) ? File.ReadAllText(pointer).Trim() : null;
        if (newest is not null && (current is null || !System.IO.Directory.Exists(Path.Combine(Directory, current)) || string.CompareOrdinal(newest, current) > 0))
        {
            AtomicFile.WriteAllText(pointer, newest + "\n");
            actions.Add($"'{LatestFile}' now names {newest}, the newest complete snapshot (was {current ?? "missing"})");
        }
        return actions;
    }

    /// <summary>Saves the run's top-level config (<c>run.json</c>), which <c>--resume</c> alone reuses.</summary>
    public void SaveRunConfig(JsonObject config)
    {
        System.IO.Directory.CreateDirectory(Directory);
        AtomicFile.WriteAllText(Path.Combine(Directory, RunConfigFile), RelativePaths(config).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// The config a <c>--resume</c> with no config reuses: <c>run.json</c> when the run wrote one, else the latest
    /// snapshot's; null when neither exists.
    /// </summary>
    public JsonObject? ReadRunConfig()
    {
        string path = Path.Combine(Directory, RunConfigFile);
        if (File.Exists(path))
        {
            try
            {
                return AbsolutePaths(JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException("not a JSON object"));
            }
            catch (Exception e) when (e is JsonException or InvalidDataException)
            {
                throw new InvalidDataException($"Run config {path} is corrupt: {e.Message}", e);
            }
        }
        return Exists ? ReadState().Config : null;
    }

    /// <summary>True when the directory holds a committed checkpoint.</summary>
    public bool Exists => File.Exists(Path.Combine(Directory, LatestFile));

    /// <summary>Reads the state of the latest snapshot, with clear errors for a missing or corrupt checkpoint.</summary>
    public State ReadState() => ReadState(LatestSnapshot());

    /// <summary>
    /// Loads the latest snapshot into <paramref name="model"/> (and optimizer/EMA when given), after checking that
    /// every name, dtype and shape matches, that every file has the SHA-256 the snapshot recorded, that every value is
    /// finite and, when <paramref name="expectedConfig"/> is given, that the config matches (keys in
    /// <paramref name="mayDiffer"/> excepted; a key the saved config lacks counts as its value in
    /// <paramref name="defaults"/>, when given).
    /// </summary>
    public State Load(Module model, AdamW? optimizer = null, Ema? ema = null, JsonObject? expectedConfig = null,
        IReadOnlyCollection<string>? mayDiffer = null, JsonObject? defaults = null)
    {
        string snapshot = LatestSnapshot();
        var (state, hashes) = ReadStateAndHashes(snapshot);
        if (expectedConfig is not null)
        {
            var diffs = ConfigDiff.Between(state.Config, AbsolutePaths(expectedConfig), defaults)
                .Where(d => mayDiffer is null || !mayDiffer.Contains(d[..d.IndexOf(':', StringComparison.Ordinal)])).ToList();
            if (diffs.Count > 0)
            {
                throw new InvalidDataException($"Checkpoint {snapshot} was trained with a different config: " + string.Join("; ", diffs) + ".");
            }
        }
        var shapes = model.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter.Shape);
        var weights = ReadTensors(snapshot, "model.safetensors", hashes, shapes);
        var emaShadows = ema is null ? null
            : ReadTensors(snapshot, "ema.safetensors", hashes, Subset(shapes, ema.State().Select(s => s.Name)));
        var moments = optimizer is null ? null
            : ReadTensors(snapshot, "optimizer.safetensors", hashes, Subset(shapes, optimizer.State().Select(s => s.Name))
                .SelectMany(kv => new[] { (kv.Key + ".m", kv.Value), (kv.Key + ".v", kv.Value) })
                .ToDictionary(x => x.Item1, x => new Shape(x.Item2.Elements)));
        // Everything is read and checked before the first weight is overwritten.
        foreach (var (name, p) in model.NamedParameters())
        {
            p.Data.CopyFrom(weights[name]);
        }
        if (ema is not null)
        {
            // The EMA (like the optimizer) covers only the trained parameters: a frozen encoder has no shadow.
            foreach (var (name, shadow) in ema.State())
            {
                shadow.CopyFrom(emaShadows![name]);
            }
            ema.RestoreUpdates(state.EmaUpdates);
        }
        if (optimizer is not null)
        {
            foreach (var (name, m, v) in optimizer.State())
            {
                m.CopyFrom(moments![name + ".m"]);
                v.CopyFrom(moments[name + ".v"]);
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
    /// weights when it has no EMA, go into every parameter of the same name (an untrained one, RequiresGrad false, which
    /// has no EMA shadow, takes the snapshot's weights); parameters the checkpoint lacks keep
    /// their initialisation. A checkpoint tensor with no parameter of that name, or of another shape or dtype, is an error.
    /// </summary>
    /// <param name="prefix">When given, only the checkpoint's tensors named <c>prefix…</c> are read (e.g. "encoder." to
    /// take one sub-network out of a larger run); the rest are ignored.</param>
    public InitialWeights LoadInitialWeights(Module model, string? prefix = null)
    {
        string snapshot = LatestSnapshot();
        var (state, hashes) = ReadStateAndHashes(snapshot);
        string file = File.Exists(Path.Combine(snapshot, "ema.safetensors")) ? "ema.safetensors" : "model.safetensors";
        string source = Path.Combine(snapshot, file);
        var tensors = ReadFile(snapshot, file, hashes).Tensors
            .Where(kv => prefix is null || kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        var parameters = model.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter);
        if (file == "ema.safetensors")
        {
            // Untrained state (a vector quantiser's codebook and EMA counts) has no EMA shadow: it comes from the
            // snapshot's weights, so a stage 2 starts from the codebook its stage 1 ended with.
            foreach (var (name, t) in ReadFile(snapshot, "model.safetensors", hashes).Tensors)
            {
                if (!tensors.ContainsKey(name) && (prefix is null || name.StartsWith(prefix, StringComparison.Ordinal))
                    && parameters.TryGetValue(name, out var p) && !p.RequiresGrad)
                {
                    tensors[name] = t;
                }
            }
        }
        var problems = new List<string>();
        foreach (var (name, t) in tensors)
        {
            if (!parameters.TryGetValue(name, out var p))
            {
                problems.Add($"'{name}' is not a parameter of the network");
            }
            else if (!SameShape(t.Shape, p.Shape))
            {
                problems.Add($"'{name}' has shape ({string.Join(", ", t.Shape)}) but the network needs {p.Shape}");
            }
            else if (t.DType != SafeTensorDType.F32)
            {
                problems.Add($"'{name}' holds {t.DType} but the network needs F32");
            }
        }
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"Cannot initialise from {source}: {string.Join("; ", problems)}.");
        }
        var values = tensors.ToDictionary(kv => kv.Key, kv => Finite(source, kv.Key, kv.Value.ToFloats()));
        var loaded = new List<string>();
        var kept = new List<string>();
        foreach (var (name, p) in parameters)
        {
            if (values.TryGetValue(name, out var v))
            {
                p.Data.CopyFrom(v);
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
        if (System.IO.Directory.Exists(pointer))
        {
            throw new InvalidDataException($"Checkpoint pointer '{pointer}' is a directory, not a file.");
        }
        if (!File.Exists(pointer))
        {
            throw new FileNotFoundException($"No checkpoint in '{Directory}': the '{LatestFile}' file is missing (was training ever saved there?).", pointer);
        }
        string name = File.ReadAllText(pointer).Trim();
        string snapshot = Path.Combine(Directory, name);
        if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name.Contains('\\', StringComparison.Ordinal) || name is "." or ".."
            || !System.IO.Directory.Exists(snapshot))
        {
            throw new InvalidDataException($"Checkpoint pointer '{pointer}' names '{name}', which is not a snapshot directory in '{Directory}'.");
        }
        return snapshot;
    }

    private State ReadState(string snapshot) => ReadStateAndHashes(snapshot).State;

    /// <summary>The snapshot's state and the SHA-256 of each file (null for a checkpoint written before hashes were recorded).</summary>
    private (State State, Dictionary<string, string>? Hashes) ReadStateAndHashes(string snapshot)
    {
        string path = Path.Combine(snapshot, "state.json");
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"Checkpoint {snapshot} is incomplete: state.json is missing.");
        }
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException("not a JSON object");
            int version = Field<int>(json, "format_version");
            if (version != FormatVersion)
            {
                throw new InvalidDataException($"format version {version}, expected {FormatVersion}");
            }
            int step = Field<int>(json, "step");
            int optimizerSteps = Field<int>(json, "optimizer_steps");
            int emaUpdates = Field<int>(json, "ema_updates");
            if (step < 0 || optimizerSteps < 0 || optimizerSteps > step || emaUpdates < 0 || emaUpdates > step)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"step {step}, optimizer_steps {optimizerSteps}, ema_updates {emaUpdates}: expected 0 ≤ optimizer_steps, ema_updates ≤ step"));
            }
            var config = json["config"] as JsonObject ?? throw new InvalidDataException("'config' is missing or not an object");
            Dictionary<string, string>? hashes = null;
            if (json["sha256"] is { } h)
            {
                hashes = (h as JsonObject ?? throw new InvalidDataException("'sha256' is not an object"))
                    .ToDictionary(kv => kv.Key, kv => kv.Value?.GetValue<string>() ?? throw new InvalidDataException($"'sha256.{kv.Key}' is null"));
            }
            return (new State(AbsolutePaths(config), step, optimizerSteps, emaUpdates, Field<ulong>(json, "seed")), hashes);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or InvalidDataException or FormatException or OverflowException or ArgumentException)
        {
            throw new InvalidDataException($"Checkpoint {path} is corrupt: {e.Message}", e);
        }
    }

    private static T Field<T>(JsonObject json, string key) =>
        json[key] is JsonValue v && v.TryGetValue(out T? value) ? value
            : throw new InvalidDataException($"'{key}' is {(json[key] is null ? "missing" : $"{json[key]!.ToJsonString()}, not a {typeof(T).Name}")}");

    /// <summary>Reads one tensor file of a snapshot, verifying its SHA-256 when the snapshot recorded one.</summary>
    private SafeTensorsContent ReadFile(string snapshot, string file, Dictionary<string, string>? hashes)
    {
        string path = Path.Combine(snapshot, file);
        if (hashes is null)
        {
            if (!_warnedUnverified)
            {
                _warnedUnverified = true;
                Warn?.Invoke($"checkpoint {snapshot} predates recorded SHA-256 hashes: its tensor files are loaded unverified");
            }
            return SafeTensors.Read(path);
        }
        if (!hashes.TryGetValue(file, out string? expected))
        {
            throw new InvalidDataException($"Checkpoint {snapshot}: state.json records no SHA-256 for {file}.");
        }
        return SafeTensors.Read(path, expected);
    }

    private bool _warnedUnverified;

    /// <summary>Reads, verifies and checks one file against the expected names and shapes; returns every tensor's values (all finite).</summary>
    private Dictionary<string, float[]> ReadTensors(string snapshot, string file, Dictionary<string, string>? hashes, Dictionary<string, Shape> expected)
    {
        var found = ReadFile(snapshot, file, hashes).Tensors;
        string path = Path.Combine(snapshot, file);
        var problems = new List<string>();
        foreach (var (name, shape) in expected)
        {
            if (!found.TryGetValue(name, out var t))
            {
                problems.Add($"missing '{name}' {shape}");
            }
            else if (!SameShape(t.Shape, shape))
            {
                problems.Add($"'{name}' has shape ({string.Join(", ", t.Shape)}) but the model needs {shape}");
            }
            else if (t.DType != SafeTensorDType.F32)
            {
                problems.Add($"'{name}' {shape} holds {t.DType} but the model needs F32");
            }
        }
        problems.AddRange(found.Keys.Where(n => !expected.ContainsKey(n)).Select(n => $"unexpected '{n}'"));
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"Checkpoint {path} does not match the model: {string.Join("; ", problems)}.");
        }
        return expected.Keys.ToDictionary(n => n, n => Finite(path, n, found[n].ToFloats()));
    }

    private static bool SameShape(IReadOnlyList<long> stored, Shape shape) =>
        stored.Count == shape.Rank && stored.Select((d, i) => d == shape[i]).All(x => x);

    /// <summary>Refuses NaN or ±Inf weights, naming the tensor and the first bad element.</summary>
    private static float[] Finite(string path, string name, float[] values)
    {
        int bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            int count = values.Count(v => !float.IsFinite(v));
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"Checkpoint {path}: tensor '{name}' holds {count} non-finite value(s) (element {bad} is {values[bad]}); refusing to load a diverged or corrupted model."));
        }
        return values;
    }

    /// <summary>The config with its path keys relative to the run folder (as saved).</summary>
    private JsonObject RelativePaths(JsonObject config)
    {
        var copy = config.DeepClone().AsObject();
        foreach (string key in s_pathKeys)
        {
            if (copy[key] is JsonValue v && v.TryGetValue(out string? path) && path.Length > 0)
            {
                copy[key] = Path.GetRelativePath(Directory, Path.GetFullPath(path));
            }
        }
        return copy;
    }

    /// <summary>The config with its path keys absolute (relative ones resolved against the run folder).</summary>
    private JsonObject AbsolutePaths(JsonObject config)
    {
        var copy = config.DeepClone().AsObject();
        foreach (string key in s_pathKeys)
        {
            if (copy[key] is JsonValue v && v.TryGetValue(out string? path) && path.Length > 0)
            {
                copy[key] = Path.GetFullPath(path, Directory);
            }
        }
        return copy;
    }

    private static SafeTensor ToSafe(DeviceBuffer<float> data, Shape shape) =>
        SafeTensor.FromFloats(data.ToArray(), shape.Select(d => (long)d).ToArray());

    /// <summary>Keeps the <paramref name="keep"/> newest snapshots up to <paramref name="latest"/>; deletes older ones and any beyond it.</summary>
    private void Prune(int keep, string latest)
    {
        var snapshots = System.IO.Directory.GetDirectories(Directory, "step-*").Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal).ToList();
        var kept = snapshots.Where(n => string.CompareOrdinal(n, latest) <= 0).TakeLast(keep).ToHashSet();
        foreach (string old in snapshots.Where(n => !kept.Contains(n)))
        {
            System.IO.Directory.Delete(Path.Combine(Directory, old), recursive: true);
        }
    }
}
