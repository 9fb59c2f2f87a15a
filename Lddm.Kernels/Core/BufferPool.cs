namespace Lddm.Kernels;

/// <summary>
/// Caching allocator keyed by element type and exact length. A training loop allocates the same shapes
/// every step, so exact-size reuse hits almost always and never wastes memory on rounding.
/// </summary>
internal interface IBufferPool : IDisposable
{
    long LiveBytes { get; }
    long PeakLiveBytes { get; }
    void ResetPeak();
    long CachedBytes { get; }
    long LiveBuffers { get; }
    void Trim();
}

internal sealed class BufferPool<TStorage> : IBufferPool where TStorage : class
{
    private readonly Dictionary<(Type, int), Stack<TStorage>> _free = new();
    private readonly Action<TStorage> _destroy;
    private readonly object _gate = new();

    public BufferPool(Action<TStorage> destroy) => _destroy = destroy;

    /// <summary>Bytes handed out and not yet returned.</summary>
    public long LiveBytes { get; private set; }

    /// <summary>Largest <see cref="LiveBytes"/> since creation or the last <see cref="ResetPeak"/>.</summary>
    public long PeakLiveBytes { get; private set; }

    public void ResetPeak()
    {
        lock (_gate)
        {
            PeakLiveBytes = LiveBytes;
        }
    }

    /// <summary>Bytes held in the pool, ready for reuse.</summary>
    public long CachedBytes { get; private set; }

    public long LiveBuffers { get; private set; }

    public TStorage Rent(Type elementType, int length, int elementSize, Func<TStorage> create)
    {
        long bytes = (long)length * elementSize;
        lock (_gate)
        {
            LiveBytes += bytes;
            PeakLiveBytes = Math.Max(PeakLiveBytes, LiveBytes);
            LiveBuffers++;
            if (_free.TryGetValue((elementType, length), out var stack) && stack.Count > 0)
            {
                CachedBytes -= bytes;
                return stack.Pop();
            }
        }
        return create();
    }

    public void Return(Type elementType, int length, int elementSize, TStorage storage)
    {
        long bytes = (long)length * elementSize;
        lock (_gate)
        {
            LiveBytes -= bytes;
            LiveBuffers--;
            CachedBytes += bytes;
            if (!_free.TryGetValue((elementType, length), out var stack))
            {
                stack = new Stack<TStorage>();
                _free[(elementType, length)] = stack;
            }
            stack.Push(storage);
        }
    }

    /// <summary>Frees every cached (unused) buffer.</summary>
    public void Trim()
    {
        lock (_gate)
        {
            foreach (var stack in _free.Values)
            {
                while (stack.Count > 0)
                {
                    _destroy(stack.Pop());
                }
            }
            _free.Clear();
            CachedBytes = 0;
        }
    }

    public void Dispose() => Trim();
}
