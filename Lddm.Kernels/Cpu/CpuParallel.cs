using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Lddm.Kernels.Cpu;

/// <summary>
/// A persistent pool of <see cref="Threads"/> − 1 worker threads (the calling thread is the last worker) that runs
/// one kernel call at a time over a static partition: chunk c of <c>n</c> always covers
/// [count·c/n, count·(c+1)/n), so a kernel whose chunks do not interact gives the same bits for any thread count.
/// Chunk c belongs to thread c (the caller is thread 0), so a kernel that streams the same rows as the last one finds
/// them in its own core's cache; but a chunk is claimed, not assigned: a thread that has finished its own chunk takes
/// any chunk whose owner has not started it, and the caller never waits for a worker that has not started — it runs
/// that chunk itself. A worker that wakes late (parked, or descheduled on a loaded machine) therefore costs nothing,
/// where the fixed split made the caller wait for it: on short memory-bound kernels (an embedding backward of 25 µs)
/// that wait was the whole difference to <c>Parallel.For</c>.
/// Workers spin for a few microseconds after a job (kernel calls come in quick succession), then park on a semaphore;
/// a worker idle for <see cref="IdleExit"/> ends and is restarted on demand, so an undisposed pool costs no threads.
/// Work smaller than <c>minChunk</c> items per thread runs inline, as does a call made while the pool is busy (a
/// nested call from inside a chunk, or a second thread sharing the backend).
/// </summary>
internal sealed class CpuParallel : IDisposable
{
    /// <summary>How long a worker spins for the next job before parking.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 50_000; // 20 µs

    /// <summary>How long a parked worker waits before its thread ends.</summary>
    private static readonly TimeSpan IdleExit = TimeSpan.FromSeconds(5);

    private readonly Worker[] _workers;
    private readonly ManualResetEventSlim _done = new(false, spinCount: 1);
    private int _busy;
    private Job? _job;
    private volatile bool _disposed;

    public CpuParallel(int threads)
    {
        Check.Positive(threads, nameof(CpuParallel), nameof(threads));
        Threads = threads;
        _workers = new Worker[threads - 1];
        for (int w = 0; w < _workers.Length; w++)
        {
            _workers[w] = new Worker(this, w + 1);
        }
    }

    /// <summary>The threads a kernel call may use, the caller's included.</summary>
    public int Threads { get; }

    /// <summary>Calls <paramref name="body"/>(start, end) on disjoint chunks covering [0, count).</summary>
    public void For(int count, int minChunk, Action<int, int> body)
    {
        if (count <= 0)
        {
            return;
        }
        int chunks = Math.Min(Threads, Math.Max(1, count / Math.Max(1, minChunk)));
        if (chunks <= 1 || _disposed || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            if (chunks <= 1)
            {
                body(0, count);
                return;
            }
            // Busy or disposed: the same chunks on this thread, in order.
            for (int c = 0; c < chunks; c++)
            {
                body(Bound(count, c, chunks), Bound(count, c + 1, chunks));
            }
            return;
        }
        try
        {
            // A fresh job object per call: a worker that wakes after this call has returned finds every claim flag
            // taken and never touches the next call's body or bounds.
            var job = new Job(body, count, chunks);
            Volatile.Write(ref _job, job);
            for (int w = 1; w < chunks; w++)
            {
                _workers[w - 1].Post();
            }
            job.RunChunks(0);
            WaitForChunks(job);
            if (job.Error is { } error)
            {
                ExceptionDispatchInfo.Capture(error).Throw();
            }
        }
        finally
        {
            Volatile.Write(ref _job, null);
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>The c-th of <paramref name="chunks"/> boundaries of [0, count).</summary>
    private static int Bound(int count, int c, int chunks) => (int)((long)count * c / chunks);

    /// <summary>Waits until every chunk is finished; all are claimed already (the caller took what was left).</summary>
    private void WaitForChunks(Job job)
    {
        long start = Stopwatch.GetTimestamp();
        while (Volatile.Read(ref job.Finished) != job.Chunks)
        {
            if (Stopwatch.GetTimestamp() - start <= SpinTicks)
            {
                Thread.SpinWait(20);
                continue;
            }
            // Reset, then re-check, then block: a worker finishing after the re-check sets the event after the
            // reset. A set left over from an earlier job only costs one more turn of this loop.
            _done.Reset();
            if (Volatile.Read(ref job.Finished) != job.Chunks)
            {
                _done.Wait();
            }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        foreach (var w in _workers)
        {
            w.Stop();
        }
    }

    /// <summary>One kernel call: its body, its static partition, each chunk's claim flag and the finish counter.</summary>
    private sealed class Job(Action<int, int> body, int count, int chunks)
    {
        public readonly int Chunks = chunks;
        private readonly int[] _claimed = new int[chunks];
        public int Finished;
        public Exception? Error;

        /// <summary>
        /// Runs chunk <paramref name="own"/> if nobody has claimed it, then every other unclaimed chunk (from the
        /// next one on, so two thieves rarely race for the same one); returns whether this thread finished the last.
        /// </summary>
        public bool RunChunks(int own)
        {
            bool last = false;
            for (int i = 0; i < Chunks; i++)
            {
                int c = (own + i) % Chunks;
                if (Interlocked.Exchange(ref _claimed[c], 1) != 0)
                {
                    continue;
                }
                try
                {
                    body(Bound(count, c, Chunks), Bound(count, c + 1, Chunks));
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref Error, e, null);
                }
                last = Interlocked.Increment(ref Finished) == Chunks;
            }
            return last;
        }
    }

    /// <summary>One worker thread: started on first use, parked between jobs, ended after <see cref="IdleExit"/>.</summary>
    private sealed class Worker(CpuParallel pool, int index)
    {
        private readonly SemaphoreSlim _signal = new(0);
        private readonly object _gate = new();
        private Thread? _thread;
        private volatile bool _stop;

        public void Post()
        {
            lock (_gate)
            {
                if (_thread is null)
                {
                    _thread = new Thread(Loop) { IsBackground = true, Name = $"lddm-cpu-{index}" };
                    _thread.Start();
                }
                // Inside the lock, so a worker timing out concurrently sees the job and stays.
                _signal.Release();
            }
        }

        public void Stop()
        {
            lock (_gate)
            {
                _stop = true;
                if (_thread is not null)
                {
                    _signal.Release();
                }
            }
        }

        private void Loop()
        {
            while (true)
            {
                long start = Stopwatch.GetTimestamp();
                while (_signal.CurrentCount == 0 && Stopwatch.GetTimestamp() - start < SpinTicks)
                {
                    Thread.SpinWait(20);
                }
                if (!_signal.Wait(IdleExit))
                {
                    lock (_gate)
                    {
                        if (_signal.CurrentCount == 0)
                        {
                            _thread = null;
                            return;
                        }
                    }
                    continue;
                }
                if (_stop)
                {
                    return;
                }
                // The current job, if any is still running; its chunks may all be claimed already (nothing to do).
                if (Volatile.Read(ref pool._job) is { } job && job.RunChunks(index))
                {
                    pool._done.Set();
                }
            }
        }
    }
}
