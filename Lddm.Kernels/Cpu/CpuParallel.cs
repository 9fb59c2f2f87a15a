using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Lddm.Kernels.Cpu;

/// <summary>
/// A persistent pool of <see cref="Threads"/> − 1 worker threads (the calling thread is the last worker) that runs
/// one kernel call at a time, split by a static partition: chunk c of <c>n</c> always covers
/// [count·c/n, count·(c+1)/n), so a kernel whose chunks do not interact gives the same bits for any thread count.
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
    private Action<int, int>? _body;
    private int _count, _chunks, _pending;
    private Exception? _error;
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
            _body = body;
            _count = count;
            _chunks = chunks;
            _error = null;
            _done.Reset();
            Volatile.Write(ref _pending, chunks - 1);
            for (int w = 1; w < chunks; w++)
            {
                _workers[w - 1].Post();
            }
            try
            {
                body(0, Bound(count, 1, chunks));
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
            }
            WaitForWorkers();
            if (_error is { } error)
            {
                ExceptionDispatchInfo.Capture(error).Throw();
            }
        }
        finally
        {
            _body = null;
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>The c-th of <paramref name="chunks"/> boundaries of [0, count).</summary>
    private static int Bound(int count, int c, int chunks) => (int)((long)count * c / chunks);

    private void WaitForWorkers()
    {
        long start = Stopwatch.GetTimestamp();
        while (Volatile.Read(ref _pending) != 0)
        {
            if (Stopwatch.GetTimestamp() - start > SpinTicks)
            {
                _done.Wait();
                return;
            }
            Thread.SpinWait(20);
        }
    }

    /// <summary>Runs chunk <paramref name="c"/> of the current job on a worker and signals when the last one ends.</summary>
    private void RunChunk(int c)
    {
        try
        {
            _body!(Bound(_count, c, _chunks), Bound(_count, c + 1, _chunks));
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
        }
        if (Interlocked.Decrement(ref _pending) == 0)
        {
            _done.Set();
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

    /// <summary>One worker thread: started on first use, parked between jobs, ended after <see cref="IdleExit"/>.</summary>
    private sealed class Worker(CpuParallel pool, int chunk)
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
                    _thread = new Thread(Loop) { IsBackground = true, Name = $"lddm-cpu-{chunk}" };
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
                pool.RunChunk(chunk);
            }
        }
    }
}
