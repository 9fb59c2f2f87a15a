using System.Diagnostics;
using System.Globalization;

namespace Lddm.Training.Checkpoints;

/// <summary>
/// A training run's <c>--out</c> folder, held for the run: checked to be creatable and writable, locked exclusively
/// (<c>lddm.lock</c>, an OS file lock the kernel drops when the holder dies, so a stale lock from a killed run is taken
/// over; <c>lddm.pid</c> names the holder), and recovered (<see cref="CheckpointStore.Recover"/>) before training.
/// Every problem is an <see cref="IOException"/> naming the folder and what is wrong.
/// </summary>
public sealed class RunDirectory : IDisposable
{
    public const string LockFile = "lddm.lock";
    public const string PidFile = "lddm.pid";
    private readonly FileStream _lock;

    private RunDirectory(string path, FileStream lockStream, IReadOnlyList<string> notes)
    {
        Path = path;
        _lock = lockStream;
        Notes = notes;
    }

    /// <summary>The folder, absolute.</summary>
    public string Path { get; }

    /// <summary>What opening did (a stale lock taken over, orphans removed, the pointer repaired), one line each.</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>Creates (if needed), checks, locks and recovers <paramref name="directory"/>.</summary>
    public static RunDirectory Open(string directory)
    {
        string path = System.IO.Path.GetFullPath(directory);
        if (File.Exists(path))
        {
            throw new IOException($"--out '{directory}' is a file, not a folder.");
        }
        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new IOException($"--out '{directory}' cannot be created: {e.Message}", e);
        }
        string lockPath = System.IO.Path.Combine(path, LockFile);
        string pidPath = System.IO.Path.Combine(path, PidFile);
        FileStream stream;
        try
        {
            stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"--out '{directory}' is not writable: {e.Message}", e);
        }
        catch (IOException e) when (File.Exists(lockPath))
        {
            throw new IOException($"--out '{directory}' is in use by another training run: {Holder(pidPath)} holds {lockPath}; wait for it to finish or choose another --out.", e);
        }
        catch (IOException e)
        {
            throw new IOException($"--out '{directory}' is not writable: {e.Message}", e);
        }
        try
        {
            var notes = new List<string>();
            if (File.Exists(pidPath))
            {
                notes.Add($"took over the lock left by {Holder(pidPath)}");
            }
            AtomicFile.WriteAllText(pidPath, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
            notes.AddRange(new CheckpointStore(path).Recover());
            // A run's own sub-runs (SEQ's stage1/) hold snapshots too.
            foreach (string sub in Directory.GetDirectories(path).Where(d => Directory.GetDirectories(d, "step-*").Length > 0))
            {
                notes.AddRange(new CheckpointStore(sub).Recover().Select(n => $"{System.IO.Path.GetFileName(sub)}/: {n}"));
            }
            return new RunDirectory(path, stream, notes);
        }
        catch (Exception e)
        {
            stream.Dispose();
            if (e is UnauthorizedAccessException)
            {
                throw new IOException($"--out '{directory}' is not writable: {e.Message}", e);
            }
            throw;
        }
    }

    /// <summary>
    /// True when the folder holds nothing but this run's lock files and its own-text corpus cache (written before step 1,
    /// so a run that fails to start leaves it; it is checked against its source whenever it is read).
    /// </summary>
    public bool IsEmpty => !Directory.EnumerateFileSystemEntries(Path).Any(e =>
        System.IO.Path.GetFileName(e) is not (LockFile or PidFile or Data.Text.OwnCorpus.CacheFolder));

    /// <summary>Throws unless the folder's file system has room for <paramref name="snapshots"/> snapshots of <paramref name="bytesPerSnapshot"/>.</summary>
    public void RequireSpace(long bytesPerSnapshot, int snapshots = 3)
    {
        long needed = bytesPerSnapshot * snapshots;
        long free;
        try
        {
            free = new DriveInfo(Path).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return; // no free-space figure on this file system: the atomic saves still keep the last snapshot on a full disk
        }
        if (free < needed)
        {
            throw new IOException(string.Create(CultureInfo.InvariantCulture,
                $"--out '{Path}' has {free / 1048576.0:F1} MiB free but {snapshots} checkpoint snapshots of this model need {needed / 1048576.0:F1} MiB: free some space or choose another --out."));
        }
    }

    private static string Holder(string pidPath)
    {
        try
        {
            string text = File.ReadAllText(pidPath).Trim();
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid))
            {
                string alive;
                try
                {
                    using var p = Process.GetProcessById(pid);
                    alive = p.HasExited ? "exited" : "running";
                }
                catch (ArgumentException)
                {
                    alive = "no longer running";
                }
                return $"PID {pid} ({alive})";
            }
            return "an unknown process";
        }
        catch (IOException)
        {
            return "an unknown process";
        }
    }

    public void Dispose()
    {
        try
        {
            File.Delete(System.IO.Path.Combine(Path, PidFile));
        }
        catch (IOException)
        {
        }
        _lock.Dispose();
    }
}
