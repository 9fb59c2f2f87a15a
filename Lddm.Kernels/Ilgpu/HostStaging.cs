using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// Host→device copies that do not make the host wait. ILGPU 1.5.3's <c>CopyFromCPU(span)</c> synchronises the stream
/// (a pageable span may change once the call returns); here an upload instead copies the span into page-locked host
/// memory (<c>AllocatePageLocked1D</c>) and queues an asynchronous copy from there on the default stream
/// (<c>ArrayView.CopyFrom(stream, view)</c>), so the kernels launched after it on that stream read the new data
/// (stream order) and the host goes on at once.
/// <para>
/// The host must never overwrite page-locked bytes that a queued copy may still read. The arena is one bump
/// allocator: uploads take consecutive bytes, and it restarts at offset 0 only once a <see cref="CountingAccelerator.Synchronize"/>
/// has returned since the last upload — the stream has then run every copy queued before it. One arena is therefore
/// enough, rather than a ring of buffers per upload site: a training step synchronises once (the divergence guard's
/// read), so each step's uploads (the batch and its draws, a few KiB) start again at offset 0. Copies are queued under
/// <see cref="CountingAccelerator.SynchronizationGate"/>, so a wait on another thread cannot fall between reading the
/// count of finished waits and queueing the copy. An upload that does
/// not fit in what is left synchronises first (counted like any wait) and, if it is larger than the arena, the
/// arena grows to the next power of two, up to <see cref="MaxBytes"/>; larger uploads (weights, checkpoints) are
/// rare and take ILGPU's synchronous copy, as before.
/// </para>
/// </summary>
internal sealed class HostStaging(CountingAccelerator accelerator) : IDisposable
{
    /// <summary>The largest arena (and upload) staged; larger uploads copy synchronously.</summary>
    public const int MaxBytes = 4 << 20;

    private const int MinBytes = 64 << 10;
    private const int Alignment = 256; // every upload starts on a boundary any element type (and DMA) is happy with

    private PageLockedArray1D<byte>? _arena;
    private long _used; // bytes taken since the synchronisation counted in _epoch
    private long _epoch = -1;

    /// <summary>
    /// Queues the copy of <paramref name="source"/> into <paramref name="target"/> (the same length) without waiting;
    /// false, with nothing done, when the upload is larger than <see cref="MaxBytes"/>.
    /// </summary>
    public unsafe bool TryCopy<T>(ReadOnlySpan<T> source, ArrayView<T> target) where T : unmanaged
    {
        long bytes = (long)source.Length * sizeof(T);
        if (bytes > MaxBytes)
        {
            return false;
        }
        lock (accelerator.SynchronizationGate) // no wait can start between reading the epoch and queueing the copy
        {
            long offset = Reserve(bytes);
            MemoryMarshal.AsBytes(source).CopyTo(_arena!.Span.Slice((int)offset, (int)bytes));
            target.Cast<byte>().CopyFrom(accelerator.Raw.DefaultStream, _arena.ArrayView.SubView(offset, bytes));
            _used = offset + bytes;
        }
        return true;
    }

    /// <summary>Where the next <paramref name="bytes"/> go: after the bytes taken since the last synchronisation.</summary>
    private long Reserve(long bytes)
    {
        long epoch = accelerator.FinishedSynchronizations;
        if (epoch != _epoch)
        {
            _used = 0; // every copy queued before that synchronisation has run: the whole arena is free
            _epoch = epoch;
        }
        long offset = (_used + Alignment - 1) / Alignment * Alignment;
        if (_arena is not null && offset + bytes <= _arena.Length)
        {
            return offset;
        }
        if (_used > 0)
        {
            accelerator.Synchronize(); // queued copies still read the arena
            _epoch = accelerator.FinishedSynchronizations;
            _used = 0;
        }
        if (_arena is null || bytes > _arena.Length)
        {
            _arena?.Dispose();
            _arena = accelerator.Raw.AllocatePageLocked1D<byte>(
                Math.Max(MinBytes, (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)bytes)), uninitialized: true);
        }
        return 0;
    }

    public void Dispose()
    {
        lock (accelerator.SynchronizationGate)
        {
            _arena?.Dispose(); // the backend synchronised before disposing
            _arena = null;
        }
    }
}
