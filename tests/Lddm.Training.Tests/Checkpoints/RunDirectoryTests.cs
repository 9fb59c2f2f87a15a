using Lddm.Kernels.Tests.Support;
using Lddm.Training.Checkpoints;
using Lddm.Training.Runs;
using Xunit;

namespace Lddm.Training.Tests.Checkpoints;

/// <summary>The --out folder: validated, locked against a second run, cleaned of an interrupted save's leftovers.</summary>
public sealed class RunDirectoryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-rundir-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_second_open_fails_naming_the_holder_and_succeeds_once_it_is_released()
    {
        string run = Path.Combine(_dir, "run");
        using (var first = RunDirectory.Open(run))
        {
            var e = Assert.Throws<IOException>(() => RunDirectory.Open(run));
            Assert.Contains($"in use by another training run: PID {Environment.ProcessId} (running)", e.Message);
            Assert.True(first.IsEmpty);
        }
        using var again = RunDirectory.Open(run);
        Assert.Empty(again.Notes);
    }

    [Fact]
    public void A_lock_left_by_a_dead_process_is_taken_over()
    {
        string run = Directory.CreateDirectory(Path.Combine(_dir, "run")).FullName;
        // What a killed run leaves: the lock file (the OS lock died with it) and its PID, of a process that is gone.
        File.WriteAllText(Path.Combine(run, RunDirectory.LockFile), "");
        File.WriteAllText(Path.Combine(run, RunDirectory.PidFile), $"{int.MaxValue - 7}\n");
        using var taken = RunDirectory.Open(run);
        Assert.Contains($"took over the lock left by PID {int.MaxValue - 7} (no longer running)", Assert.Single(taken.Notes));
    }

    [Fact]
    public void An_out_that_is_a_file_or_cannot_be_created_is_refused_before_training()
    {
        string file = Path.Combine(_dir, "file");
        File.WriteAllText(file, "x");
        Assert.Contains("is a file, not a folder", Assert.Throws<IOException>(() => RunDirectory.Open(file)).Message);
        Assert.Contains("cannot be created", Assert.Throws<IOException>(() => RunDirectory.Open(Path.Combine(file, "sub"))).Message);
    }

    [Fact]
    public void Space_for_three_snapshots_is_required()
    {
        using var run = RunDirectory.Open(Path.Combine(_dir, "run"));
        run.RequireSpace(1024);
        var e = Assert.Throws<IOException>(() => run.RequireSpace(long.MaxValue / 4));
        Assert.Contains("3 checkpoint snapshots of this model need", e.Message);
    }

    [Fact]
    public void Orphans_of_an_interrupted_first_save_are_removed_and_the_folder_counts_as_empty()
    {
        string run = Directory.CreateDirectory(Path.Combine(_dir, "run")).FullName;
        // A kill during the first save: a temporary snapshot folder with a temporary file inside, and a pointer's
        // temporary; a user's own file that merely looks similar stays.
        string guid = Guid.NewGuid().ToString("N");
        string temp = Directory.CreateDirectory(Path.Combine(run, $".tmp-step-00000200-{guid}")).FullName;
        File.WriteAllText(Path.Combine(temp, $"model.safetensors.tmp-{guid}"), "torn");
        File.WriteAllText(Path.Combine(run, $"latest.tmp-{guid}"), "step-00000200");
        using var dir = RunDirectory.Open(run);
        Assert.Contains(dir.Notes, n => n.Contains($".tmp-step-00000200-{guid}", StringComparison.Ordinal));
        Assert.Contains(dir.Notes, n => n.Contains($"latest.tmp-{guid}", StringComparison.Ordinal));
        Assert.True(dir.IsEmpty);
        dir.Dispose();
        string mine = Path.Combine(run, "notes.tmp-draft");
        File.WriteAllText(mine, "a user's file");
        using (RunDirectory.Open(run))
        {
        }
        Assert.True(File.Exists(mine));
    }

    [Fact]
    public void A_snapshot_committed_before_the_pointer_moved_becomes_the_latest()
    {
        string run = Path.Combine(_dir, "run");
        using var net = new TinyNet();
        var store = new CheckpointStore(run);
        store.Save(net, null, null, new CheckpointStore.State(new(), 1, 0, 0, 1));
        string second = store.Save(net, null, null, new CheckpointStore.State(new(), 2, 0, 0, 1));
        // A kill between the rename of step 2 and the pointer update: the pointer still names step 1.
        File.WriteAllText(Path.Combine(run, "latest"), "step-00000001\n");
        using (var dir = RunDirectory.Open(run))
        {
            Assert.Contains(dir.Notes, n => n.Contains("now names step-00000002", StringComparison.Ordinal));
        }
        Assert.Equal(2, store.ReadState().Step);
        // And with no pointer at all (a kill before the first pointer was written).
        File.Delete(Path.Combine(run, "latest"));
        using (RunDirectory.Open(run))
        {
        }
        Assert.Equal(2, store.ReadState().Step);
        Assert.True(Directory.Exists(second));
    }

    [Fact]
    public void Config_paths_are_stored_relative_to_the_run_folder_so_a_moved_run_still_resolves_them()
    {
        string run = Path.Combine(_dir, "a", "run");
        using var net = new TinyNet();
        var config = new TrainConfig { Model = "seq", Stage = 2, Init = Path.Combine(run, "stage1") }.ToJson();
        new CheckpointStore(run).Save(net, null, null, new CheckpointStore.State(config, 1, 0, 0, 1));
        string stateJson = File.ReadAllText(Path.Combine(run, "step-00000001", "state.json"));
        Assert.Contains("\"init\": \"stage1\"", stateJson);
        string moved = Path.Combine(_dir, "b", "moved");
        Directory.CreateDirectory(Path.GetDirectoryName(moved)!);
        Directory.Move(run, moved);
        var state = new CheckpointStore(moved).ReadState();
        Assert.Equal(Path.Combine(moved, "stage1"), state.Config["init"]!.GetValue<string>());
        using var net2 = new TinyNet();
        // The loader compares against this run's absolute path and finds them equal.
        new CheckpointStore(moved).Load(net2, null, null, (new TrainConfig { Model = "seq", Stage = 2, Init = Path.Combine(moved, "stage1") }).ToJson());
    }

    private sealed class TinyNet : Lddm.Autograd.Module
    {
        public TinyNet() : base(TestBackends.Cpu) => AddParameter("w", Lddm.Autograd.Init.Normal(1f), 2, 2);
    }
}
