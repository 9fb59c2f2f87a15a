using System.Runtime.CompilerServices;
using Lddm.Kernels.Cpu;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The worker pool's contract under dynamic claiming: every index of every call runs exactly once, never after the
/// call has returned (a worker that wakes late must not run a finished call's chunks, nor the next call's with stale
/// bounds), whichever thread gets there first; and an exception in any chunk reaches the caller.
/// </summary>
public sealed class CpuParallelTests
{
    [Theory]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(4, 3)]
    public void Every_index_runs_once_and_only_while_its_call_is_running(int threads, int seed)
    {
        using var pool = new CpuParallel(threads);
        var rng = new Random(seed);
        int late = 0;
        for (int call = 0; call < 3000; call++)
        {
            int count = rng.Next(1, 64), minChunk = rng.Next(1, 4);
            // Now and then a pause longer than the workers' spin, so some calls find them parked and start late.
            bool park = rng.Next(20) == 0;
            if (park)
            {
                Thread.Sleep(1);
            }
            var visits = new int[count];
            var open = new StrongBox<int>(1);
            int salt = rng.Next();
            pool.For(count, minChunk, (start, end) =>
            {
                if (((start * 7919) ^ salt) % 3 == 0)
                {
                    Thread.SpinWait(300); // uneven chunks, so sometimes the caller, sometimes a worker finishes last
                }
                for (int i = start; i < end; i++)
                {
                    Interlocked.Increment(ref visits[i]);
                }
                if (Volatile.Read(ref open.Value) == 0)
                {
                    Interlocked.Increment(ref late);
                }
            });
            Volatile.Write(ref open.Value, 0);
            Assert.True(visits.All(v => v == 1), $"call {call}: count {count}, minChunk {minChunk}: visits {string.Join(",", visits)}");
        }
        // A worker that ran a spent call's chunk (at any time, even after the last call) has counted itself in late.
        Thread.Sleep(50);
        Assert.Equal(0, Volatile.Read(ref late));
        var last = new int[100];
        pool.For(last.Length, 1, (start, end) =>
        {
            for (int i = start; i < end; i++)
            {
                Interlocked.Increment(ref last[i]);
            }
        });
        Assert.All(last, v => Assert.Equal(1, v));
    }

    [Fact]
    public void An_exception_in_any_chunk_reaches_the_caller_and_the_pool_stays_usable()
    {
        using var pool = new CpuParallel(3);
        for (int bad = 0; bad < 3; bad++)
        {
            int chunkStart = (int)(30L * bad / 3);
            var e = Assert.Throws<InvalidOperationException>(() => pool.For(30, 1, (start, _) =>
            {
                if (start == chunkStart)
                {
                    throw new InvalidOperationException($"chunk at {start}");
                }
            }));
            Assert.Equal($"chunk at {chunkStart}", e.Message);
        }
        int sum = 0;
        pool.For(30, 1, (start, end) => Interlocked.Add(ref sum, end - start));
        Assert.Equal(30, sum);
    }
}
