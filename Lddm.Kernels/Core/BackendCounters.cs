namespace Lddm.Kernels;

/// <summary>
/// What a backend has asked of its device so far: kernel launches, host waits for the device, and copies each way.
/// On ILGPU a <see cref="Synchronizations"/> is every wait of the host for the stream: each
/// <see cref="Backend.Synchronize"/> (a read-back calls it first), each host→device copy that waits (ILGPU 1.5.3's
/// span copy: OpenCL, or an upload too large to stage), and each wait of the page-locked staging memory for the
/// copies still reading it. A staged upload (CUDA and the simulator) counts in <see cref="HostToDevice"/> only: it
/// is queued on the stream and the host goes on. Subtract two snapshots (<c>after - before</c>) to get the cost of
/// what ran between them.
/// </summary>
public readonly record struct BackendCounters(long Launches, long Synchronizations, long HostToDevice, long DeviceToHost)
{
    public static BackendCounters operator -(BackendCounters a, BackendCounters b) =>
        new(a.Launches - b.Launches, a.Synchronizations - b.Synchronizations, a.HostToDevice - b.HostToDevice,
            a.DeviceToHost - b.DeviceToHost);

    public override string ToString() =>
        $"{Launches} launches, {Synchronizations} synchronisations ({HostToDevice} host→device, {DeviceToHost} device→host copies)";
}

/// <summary>The thread-safe tallies behind <see cref="BackendCounters"/>.</summary>
internal sealed class LaunchCounters
{
    private long _launches, _synchronizations, _hostToDevice, _deviceToHost;

    public void Launch() => Interlocked.Increment(ref _launches);

    public void Synchronization() => Interlocked.Increment(ref _synchronizations);

    public void HostToDevice() => Interlocked.Increment(ref _hostToDevice);

    public void DeviceToHost() => Interlocked.Increment(ref _deviceToHost);

    public BackendCounters Snapshot() => new(Interlocked.Read(ref _launches), Interlocked.Read(ref _synchronizations),
        Interlocked.Read(ref _hostToDevice), Interlocked.Read(ref _deviceToHost));
}
