using System.Runtime.InteropServices;

namespace Lddm.Training.Distributed;

/// <summary>
/// The collective operations data-parallel training needs, over K ranks that each run the same program: an in-place
/// sum of float buffers across ranks, a broadcast of bytes from one rank, and a barrier. Every rank must make the same
/// calls in the same order with the same lengths (as in MPI). Implementations: <see cref="SingleProcess"/> (K = 1,
/// every call a no-op), <see cref="InProcessGroup"/> (K ranks as threads of one process, for tests) and
/// <see cref="MpiCollective"/> (Open MPI's libmpi, one rank per process under <c>mpirun</c>). An NCCL one for GPU
/// clusters is planned (README, "Training on several processes").
/// </summary>
public interface ICollective : IDisposable
{
    /// <summary>This rank, in [0, <see cref="Size"/>); rank 0 logs, evaluates and writes checkpoints.</summary>
    int Rank { get; }

    /// <summary>K, the number of ranks.</summary>
    int Size { get; }

    /// <summary>What runs the collective, for the log ("Open MPI v4.1.4 …, 2 ranks").</summary>
    string Name { get; }

    /// <summary>Replaces <paramref name="data"/> on every rank with the element-wise sum over ranks.</summary>
    void AllReduceSum(Span<float> data);

    /// <summary>Copies <paramref name="data"/> of rank <paramref name="root"/> into <paramref name="data"/> of every rank.</summary>
    void Broadcast(Span<byte> data, int root);

    /// <summary>Returns on each rank once every rank has called it.</summary>
    void Barrier();
}

/// <summary>One process, K = 1: every collective is a no-op and nothing is loaded.</summary>
public sealed class SingleProcess : ICollective
{
    public static SingleProcess Instance { get; } = new();

    private SingleProcess()
    {
    }

    public int Rank => 0;

    public int Size => 1;

    public string Name => "single process";

    public void AllReduceSum(Span<float> data)
    {
    }

    public void Broadcast(Span<byte> data, int root)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(root, 0);
    }

    public void Barrier()
    {
    }

    public void Dispose()
    {
    }
}

/// <summary>Typed helpers over <see cref="ICollective"/>'s byte broadcast and float sum.</summary>
public static class CollectiveExtensions
{
    /// <summary>Replaces <paramref name="data"/> with the element-wise mean over ranks (sum, then × 1/K).</summary>
    public static void AllReduceMean(this ICollective collective, Span<float> data)
    {
        ArgumentNullException.ThrowIfNull(collective);
        collective.AllReduceSum(data);
        float scale = 1f / collective.Size;
        for (int i = 0; i < data.Length; i++)
        {
            data[i] *= scale;
        }
    }

    /// <summary>Broadcasts unmanaged values (floats, ints, …) from <paramref name="root"/>.</summary>
    public static void Broadcast<T>(this ICollective collective, Span<T> data, int root = 0) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(collective);
        collective.Broadcast(MemoryMarshal.AsBytes(data), root);
    }

    /// <summary>Rank <paramref name="root"/>'s <paramref name="value"/>, on every rank.</summary>
    public static T Broadcast<T>(this ICollective collective, T value, int root = 0) where T : unmanaged
    {
        Span<T> one = [value];
        collective.Broadcast(one, root);
        return one[0];
    }

    /// <summary>Rank <paramref name="root"/>'s string (UTF-8, length first), on every rank.</summary>
    public static string Broadcast(this ICollective collective, string value, int root = 0)
    {
        ArgumentNullException.ThrowIfNull(value);
        byte[] mine = System.Text.Encoding.UTF8.GetBytes(value);
        int length = collective.Broadcast(mine.Length, root);
        var bytes = collective.Rank == root ? mine : new byte[length];
        collective.Broadcast(bytes.AsSpan(), root);
        return System.Text.Encoding.UTF8.GetString(bytes);
    }

    /// <summary>The ranks whose <paramref name="flag"/> is true, known to every rank (one all-reduce of K floats).</summary>
    public static IReadOnlyList<int> RanksWhere(this ICollective collective, bool flag)
    {
        ArgumentNullException.ThrowIfNull(collective);
        var votes = new float[collective.Size];
        votes[collective.Rank] = flag ? 1 : 0;
        collective.AllReduceSum(votes);
        return Enumerable.Range(0, votes.Length).Where(r => votes[r] > 0).ToList();
    }
}
