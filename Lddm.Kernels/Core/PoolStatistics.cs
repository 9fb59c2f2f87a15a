namespace Lddm.Kernels;

/// <summary>Snapshot of a backend's buffer pool.</summary>
/// <param name="LiveBytes">Bytes in buffers that have not been disposed.</param>
/// <param name="CachedBytes">Bytes of disposed buffers kept for reuse.</param>
/// <param name="LiveBuffers">Number of buffers not yet disposed.</param>
/// <param name="PeakLiveBytes">Largest live total since the backend started or <see cref="Backend.ResetPeakMemory"/>.</param>
public readonly record struct PoolStatistics(long LiveBytes, long CachedBytes, long LiveBuffers, long PeakLiveBytes = 0);
