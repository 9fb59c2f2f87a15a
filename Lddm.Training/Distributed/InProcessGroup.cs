namespace Lddm.Training.Distributed;

/// <summary>
/// K ranks as threads of one process (tests, and anything that wants data-parallel semantics without MPI). Sums are
/// taken in rank order (((r₀ + r₁) + r₂) …) on every rank, so results are deterministic and the same on all ranks.
/// When a rank fails, <see cref="Run{T}"/> aborts the group: the others leave their collective call with an error
/// instead of waiting forever, and the failing rank's exception is rethrown.
/// </summary>
public sealed class InProcessGroup : IDisposable
{
    private readonly Barrier _barrier;
    private readonly CancellationTokenSource _abort = new();
    private readonly object?[] _slots;

    public InProcessGroup(int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        Size = size;
        _barrier = new Barrier(size);
        _slots = new object?[size];
    }

    public int Size { get; }

    /// <summary>The collective of rank <paramref name="rank"/> (use each from its own thread).</summary>
    public ICollective Member(int rank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(rank, Size);
        return new RankView(this, rank);
    }

    /// <summary>
    /// Runs <paramref name="body"/> once per rank, each on its own thread, and returns the results by rank. If any rank
    /// throws, the group is aborted and the first failure (not the other ranks' "aborted" errors) is rethrown.
    /// </summary>
    public static T[] Run<T>(int size, Func<ICollective, T> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        using var group = new InProcessGroup(size);
        var results = new T[size];
        var failures = new Exception?[size];
        var threads = Enumerable.Range(0, size).Select(r => new Thread(() =>
        {
            try
            {
                results[r] = body(group.Member(r));
            }
            catch (Exception e)
            {
                failures[r] = e;
                group._abort.Cancel();
            }
        }, maxStackSize: 16 << 20)).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        var first = failures.FirstOrDefault(e => e is not null and not GroupAbortedException) ?? failures.FirstOrDefault(e => e is not null);
        if (first is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
        return results;
    }

    private void Wait(int rank)
    {
        try
        {
            _barrier.SignalAndWait(_abort.Token);
        }
        catch (OperationCanceledException)
        {
            throw new GroupAbortedException($"rank {rank}: another rank of the in-process group failed; this rank stops too.");
        }
    }

    public void Dispose()
    {
        _barrier.Dispose();
        _abort.Dispose();
    }

    /// <summary>Thrown in the ranks that did not fail when another one did.</summary>
    public sealed class GroupAbortedException(string message) : Exception(message);

    private sealed class RankView(InProcessGroup group, int rank) : ICollective
    {
        public int Rank => rank;

        public int Size => group.Size;

        public string Name => $"in-process, {group.Size} ranks";

        public void AllReduceSum(Span<float> data)
        {
            group._slots[rank] = data.ToArray();
            group.Wait(rank);
            var parts = group._slots;
            int length = data.Length;
            for (int r = 0; r < parts.Length; r++)
            {
                if (((float[])parts[r]!).Length != length)
                {
                    throw new InvalidOperationException($"AllReduceSum: rank {r} passed {((float[])parts[r]!).Length} floats but rank {rank} passed {length}; every rank must reduce the same length.");
                }
            }
            var first = (float[])parts[0]!;
            first.CopyTo(data);
            for (int r = 1; r < parts.Length; r++)
            {
                var part = (float[])parts[r]!;
                for (int i = 0; i < length; i++)
                {
                    data[i] += part[i];
                }
            }
            group.Wait(rank); // nobody overwrites a slot before every rank has read it
        }

        public void Broadcast(Span<byte> data, int root)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(root);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(root, group.Size);
            if (rank == root)
            {
                group._slots[root] = data.ToArray();
            }
            group.Wait(rank);
            var source = (byte[])group._slots[root]!;
            if (source.Length != data.Length)
            {
                throw new InvalidOperationException($"Broadcast: rank {root} sent {source.Length} bytes but rank {rank} expects {data.Length}.");
            }
            if (rank != root)
            {
                source.CopyTo(data);
            }
            group.Wait(rank);
        }

        public void Barrier() => group.Wait(rank);

        public void Dispose()
        {
        }
    }
}
