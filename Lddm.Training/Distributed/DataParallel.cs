using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Training.Optim;

namespace Lddm.Training.Distributed;

/// <summary>
/// The gradient all-reduce of one data-parallel step. Every trained parameter's gradient is packed into one flat host
/// buffer (in <see cref="Lddm.Training.Engine.ITrainableModel.TrainableParameters"/> order), followed by one
/// presence flag per parameter (did a gradient reach it on this rank) and the step's loss, NELBO and stop request;
/// the buffer is summed across ranks in buckets of at most <see cref="BucketElements"/> floats (one collective call
/// per bucket, not one per tensor), scaled by 1/K, and unpacked. A parameter that got a gradient on some rank gets
/// the mean on every rank (zero where it had none), so the optimizer step is identical everywhere.
/// </summary>
public sealed class GradientAllReduce
{
    /// <summary>Floats per collective call: 4 Mi floats = 16 MiB.</summary>
    public const int BucketElements = 1 << 22;

    private const int Tail = 3; // loss, NELBO, stop
    private readonly ICollective _collective;
    private readonly IReadOnlyList<(string Name, Parameter Parameter)> _parameters;
    private readonly float[] _flat;
    private readonly int _gradients;

    public GradientAllReduce(ICollective collective, IReadOnlyList<(string Name, Parameter Parameter)> parameters)
    {
        _collective = collective ?? throw new ArgumentNullException(nameof(collective));
        _parameters = parameters ?? throw new ArgumentNullException(nameof(parameters));
        long total = parameters.Sum(np => (long)np.Parameter.Shape.Elements);
        if (total + parameters.Count + Tail > Array.MaxLength)
        {
            throw new NotSupportedException($"{total:N0} trained parameters do not fit one flat gradient buffer ({Array.MaxLength:N0} floats).");
        }
        _gradients = (int)total;
        _flat = new float[_gradients + parameters.Count + Tail];
    }

    /// <summary>Floats summed per step (gradients, presence flags, loss, NELBO, stop).</summary>
    public int Elements => _flat.Length;

    /// <summary>Seconds spent in the collective calls (including waiting for the slowest rank) since construction.</summary>
    public double CollectiveSeconds { get; private set; }

    /// <summary>Seconds spent packing and unpacking the flat buffer since construction.</summary>
    public double CopySeconds { get; private set; }

    /// <summary>
    /// Replaces every trained parameter's gradient with its mean over ranks; returns the mean loss and NELBO and
    /// whether any rank asked to stop.
    /// </summary>
    public (double Loss, double Nelbo, bool Stop) Reduce(double loss, double nelbo, bool stop)
    {
        var clock = Stopwatch.StartNew();
        var flat = _flat.AsSpan();
        int offset = 0;
        for (int i = 0; i < _parameters.Count; i++)
        {
            var p = _parameters[i].Parameter;
            var slice = flat.Slice(offset, p.Shape.Elements);
            if (p.Grad is { } g)
            {
                g.Data.CopyTo(slice);
            }
            else
            {
                slice.Clear();
            }
            flat[_gradients + i] = p.Grad is null ? 0 : 1;
            offset += p.Shape.Elements;
        }
        flat[^3] = (float)loss;
        flat[^2] = (float)nelbo;
        flat[^1] = stop ? 1 : 0;
        double packed = clock.Elapsed.TotalSeconds;
        for (int start = 0; start < flat.Length; start += BucketElements)
        {
            _collective.AllReduceSum(flat.Slice(start, Math.Min(BucketElements, flat.Length - start)));
        }
        double reduced = clock.Elapsed.TotalSeconds;
        float scale = 1f / _collective.Size; // exact for K a power of two
        offset = 0;
        for (int i = 0; i < _parameters.Count; i++)
        {
            var p = _parameters[i].Parameter;
            int n = p.Shape.Elements;
            if (flat[_gradients + i] > 0)
            {
                var slice = flat.Slice(offset, n);
                for (int j = 0; j < slice.Length; j++)
                {
                    slice[j] *= scale;
                }
                if (p.Grad is null)
                {
                    CreateGradient(p);
                }
                p.Grad!.Data.CopyFrom(slice);
            }
            offset += n;
        }
        var result = (flat[^3] * (double)scale, flat[^2] * (double)scale, flat[^1] > 0);
        CollectiveSeconds += reduced - packed;
        CopySeconds += clock.Elapsed.TotalSeconds - reduced + packed;
        return result;
    }

    /// <summary>Gives <paramref name="p"/> a zero gradient (a backward through p·1 with a zero seed allocates it).</summary>
    private static void CreateGradient(Parameter p)
    {
        using var tape = Tape.Begin();
        var y = ScaleOp.Apply(p, 1f);
        y.Backward(new float[p.Shape.Elements]);
    }
}

/// <summary>What ranks agree on before training: the same run, the same starting weights, the same resumed state.</summary>
public static class DataParallel
{
    /// <summary>
    /// Refuses to start unless every rank resolved the same run: rank 0 broadcasts the SHA-256 of its resolved config
    /// (JSON) and data description, every rank compares it with its own, and if any differs every rank throws the same
    /// error naming the ranks and the keys where (the first three of) them differ from rank 0 — the same on every rank,
    /// since whichever rank ends the job first is the one whose message is seen.
    /// </summary>
    public static void RequireSameRun(ICollective collective, JsonObject config, string data)
    {
        ArgumentNullException.ThrowIfNull(collective);
        ArgumentNullException.ThrowIfNull(config);
        string mine = config.ToJsonString() + "\n" + data;
        byte[] hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(mine));
        byte[] root = (byte[])hash.Clone();
        collective.Broadcast(root.AsSpan(), 0);
        var differ = collective.RanksWhere(!root.AsSpan().SequenceEqual(hash));
        if (differ.Count == 0)
        {
            return;
        }
        // Explain on every rank: rank 0 and then each of the first three differing ranks broadcast config and data.
        var rootConfig = JsonNode.Parse(collective.Broadcast(config.ToJsonString()))!.AsObject();
        string rootData = collective.Broadcast(data);
        var details = new List<string>();
        foreach (int d in differ.Take(3))
        {
            var theirs = JsonNode.Parse(collective.Broadcast(config.ToJsonString(), d))!.AsObject();
            string theirData = collective.Broadcast(data, d);
            var keys = Differences(rootConfig, theirs, d);
            if (rootData != theirData)
            {
                keys.Add($"data: rank 0 has \"{rootData}\", rank {d} has \"{theirData}\"");
            }
            details.Add($"rank {d} differs from rank 0 in " + string.Join("; ", keys));
        }
        throw new ArgumentException(
            $"The ranks of this job resolved different training configs: rank(s) {string.Join(", ", differ)} of {collective.Size} differ from rank 0 " +
            $"(SHA-256 of the resolved config and data); {string.Join("; ", details)}. Every rank must get the same --config/--set flags and data.");
    }

    private static List<string> Differences(JsonObject root, JsonObject mine, int rank)
    {
        var keys = root.Select(kv => kv.Key).Union(mine.Select(kv => kv.Key)).OrderBy(k => k, StringComparer.Ordinal);
        var result = new List<string>();
        foreach (string key in keys)
        {
            string a = root[key]?.ToJsonString() ?? "(absent)", b = mine[key]?.ToJsonString() ?? "(absent)";
            if (a != b)
            {
                result.Add($"{key}: rank 0 has {a}, rank {rank} has {b}");
            }
        }
        return result;
    }

    /// <summary>Copies rank 0's values of <paramref name="buffers"/> to every rank (packed into one flat broadcast).</summary>
    public static void Broadcast(ICollective collective, IReadOnlyList<DeviceBuffer<float>> buffers)
    {
        ArgumentNullException.ThrowIfNull(collective);
        ArgumentNullException.ThrowIfNull(buffers);
        if (collective.Size == 1)
        {
            return;
        }
        long total = buffers.Sum(b => (long)b.Length);
        int chunk = GradientAllReduce.BucketElements;
        var flat = new float[Math.Min(total, chunk)];
        // Buckets of whole buffers (a buffer larger than a bucket goes alone, in pieces).
        int first = 0;
        while (first < buffers.Count)
        {
            int last = first, filled = 0;
            while (last < buffers.Count && (last == first || filled + buffers[last].Length <= chunk))
            {
                filled += buffers[last].Length;
                last++;
            }
            var packed = filled <= flat.Length ? flat.AsSpan(0, filled) : new float[filled];
            if (collective.Rank == 0)
            {
                int o = 0;
                for (int i = first; i < last; i++)
                {
                    buffers[i].CopyTo(packed.Slice(o, buffers[i].Length));
                    o += buffers[i].Length;
                }
            }
            collective.Broadcast(packed);
            if (collective.Rank != 0)
            {
                int o = 0;
                for (int i = first; i < last; i++)
                {
                    buffers[i].CopyFrom(packed.Slice(o, buffers[i].Length));
                    o += buffers[i].Length;
                }
            }
            first = last;
        }
    }

    /// <summary>Rank 0's weights of every parameter of <paramref name="network"/> (frozen ones too), on every rank.</summary>
    public static void BroadcastParameters(ICollective collective, Module network)
    {
        ArgumentNullException.ThrowIfNull(network);
        Broadcast(collective, network.NamedParameters().Select(np => np.Parameter.Data).ToList());
    }

    /// <summary>
    /// Rank 0's training state on every rank after rank 0 loaded a checkpoint: weights, AdamW moments and step count,
    /// EMA shadows and update count; returns rank 0's step.
    /// </summary>
    public static int BroadcastState(ICollective collective, Module network, AdamW optimizer, Ema ema, int step)
    {
        ArgumentNullException.ThrowIfNull(collective);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(ema);
        Span<int> counters = [step, optimizer.StepCount, ema.Updates];
        collective.Broadcast(counters);
        var buffers = network.NamedParameters().Select(np => np.Parameter.Data)
            .Concat(optimizer.State().SelectMany(s => new[] { s.M, s.V }))
            .Concat(ema.State().Select(s => s.Shadow)).ToList();
        Broadcast(collective, buffers);
        optimizer.RestoreStepCount(counters[1]);
        ema.RestoreUpdates(counters[2]);
        return counters[0];
    }
}
