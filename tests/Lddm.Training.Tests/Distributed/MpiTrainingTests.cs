using System.Diagnostics;
using System.Globalization;
using System.Text;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Checkpoints;
using Lddm.Training.Distributed;
using Lddm.Training.Engine;
using Lddm.Training.Runs;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Training.Tests.Distributed;

/// <summary>
/// Two Open MPI ranks on loopback (<c>mpirun --allow-run-as-root --oversubscribe -np 2 dotnet lddm.dll train …</c>)
/// against one process. Needs <c>mpirun</c> (Debian openmpi-bin); .ci/run installs it and sets LDDM_REQUIRE_MPI=1, so
/// there a missing mpirun fails these tests. Elsewhere, without mpirun, they say so in their output and check nothing.
/// </summary>
public sealed class MpiTrainingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-mpi-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>lddm train's flags for <paramref name="c"/>: the whole config as a file.</summary>
    private string[] Flags(TrainConfig c)
    {
        string file = Path.Combine(_dir, $"config-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, c.ToJson().ToJsonString());
        return ["--config", file, "--device", "cpu"];
    }

    private static string Invariant(IFormattable x) => x.ToString(null, CultureInfo.InvariantCulture);

    [Fact]
    public void Two_mpi_ranks_train_as_one_process_with_the_doubled_batch()
    {
        if (Mpirun() is not { } mpirun)
        {
            return;
        }
        var config = DataParallelTrainerTests.Tiny() with { Steps = 4 };
        string dir = Path.Combine(_dir, "mpi");
        var run = Launch(mpirun, 2, [.. Flags(config), "--out", dir], "");
        Assert.True(run.ExitCode == 0, $"mpirun exited with {run.ExitCode}:\n{run.Output}");
        Assert.Contains("ranks 2", run.Output);
        Assert.Contains("Open MPI", run.Output);

        var mpi = Load(config, dir);
        var single = DataParallelTrainerTests.TrainOne(config with { GradAccumulation = 2 });
        var (worst, where) = DataParallelTrainerTests.Compare(single, mpi);
        output.WriteLine($"2 MPI ranks vs one process with the doubled batch: worst relative difference {worst:E2} at {where}");
        Assert.True(worst <= DataParallelTrainerTests.Tolerance, $"2 MPI ranks differ from one process with the doubled batch by {worst:E2} at {where} (seed {config.Seed})");
        var (undoubled, _) = DataParallelTrainerTests.Compare(DataParallelTrainerTests.TrainOne(config), mpi);
        Assert.True(undoubled > 100 * DataParallelTrainerTests.Tolerance, $"the undoubled batch is only {undoubled:E2} away: the test cannot tell");
    }

    [Fact]
    public void Ranks_launched_with_different_configs_are_refused_and_the_job_fails()
    {
        if (Mpirun() is not { } mpirun)
        {
            return;
        }
        var config = DataParallelTrainerTests.Tiny() with { Steps = 2 };
        string dll = LddmDll(), dotnet = Dotnet();
        string[] Rank(TrainConfig c) => [.. new[] { "-np", "1", dotnet, dll, "train" }, .. Flags(c), "--out", Path.Combine(_dir, "mismatch")];
        // MPMD: rank 0 and rank 1 get different batch sizes.
        var run = Run(mpirun, ["--allow-run-as-root", "--oversubscribe", .. Rank(config), ":", .. Rank(config with { Batch = 8 })], TimeSpan.FromSeconds(120));
        output.WriteLine(run.Output);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("resolved different training configs", run.Output);
        Assert.Contains("rank 1 differs from rank 0 in batch: rank 0 has 4, rank 1 has 8", run.Output);
    }

    [Fact]
    public void A_killed_rank_fails_the_job_with_open_mpis_message_and_resume_finishes_it_exactly()
    {
        if (Mpirun() is not { } mpirun)
        {
            return;
        }
        // Long enough (a few seconds) that the job is still running when mpirun relays the first checkpoint line, even
        // on a loaded machine: at 32 steps the whole job could end before the line arrived and rank 1 was gone.
        var config = DataParallelTrainerTests.Tiny() with { Steps = 400, CheckpointEvery = 4, LogEvery = 4 };
        string dir = Path.Combine(_dir, "killed"), tag = Guid.NewGuid().ToString("N");
        int killed = 0;
        string? killFailure = null;
        var run = Launch(mpirun, 2, [.. Flags(config), "--out", dir], tag, line =>
        {
            // Rank 0 announces each checkpoint; after the first, SIGKILL rank 1 (found by its environment). This runs on
            // the output reader's thread: a failure is recorded for the test to report, not thrown (it would end the
            // whole test host).
            if (line.StartsWith("checkpoint ", StringComparison.Ordinal) && Interlocked.Exchange(ref killed, 1) == 0)
            {
                try
                {
                    Process.GetProcessById(FindRank(tag, 1)).Kill();
                }
                catch (Exception e) when (e is InvalidOperationException or ArgumentException)
                {
                    killFailure = $"{e.Message} when rank 0 printed '{line}'";
                }
            }
        });
        output.WriteLine(run.Output);
        Assert.Equal(1, killed);
        Assert.True(killFailure is null, $"could not kill rank 1: {killFailure}\n{run.Output}");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("exited on signal 9", run.Output);
        Assert.DoesNotContain($"step {config.Steps,6}/{config.Steps}", run.Output);
        int cut = new CheckpointStore(dir).ReadState().Step;
        Assert.InRange(cut, 4, config.Steps - 1);

        var resumed = Launch(mpirun, 2, [.. Flags(config), "--out", dir, "--resume"], "");
        Assert.True(resumed.ExitCode == 0, $"resume exited with {resumed.ExitCode}:\n{resumed.Output}");
        Assert.Contains($"resumed from {Path.GetFullPath(dir)} at step {cut}", resumed.Output);
        var mpi = Load(config, dir);

        // The same two ranks in one process, uninterrupted: MPI sums two ranks as the in-process group does (a + b).
        var straight = InProcessGroup.Run(2, c =>
        {
            using var trainer = new Trainer(TestBackends.Cpu, config, TrainingRun.Data(config), null, TextWriter.Null, c);
            trainer.Run();
            return DataParallelTrainerTests.Parameters(trainer);
        })[0];
        var (worst, where) = DataParallelTrainerTests.Compare(straight, mpi);
        output.WriteLine($"killed at step {cut}, resumed, vs an uninterrupted in-process run: worst relative difference {worst:E2} at {where}");
        Assert.True(worst == 0, $"the resumed MPI job differs from an uninterrupted one by {worst:E2} at {where}");
    }

    /// <summary>The checkpoint in <paramref name="dir"/>, loaded into a model built from <paramref name="config"/>.</summary>
    private static Dictionary<string, float[]> Load(TrainConfig config, string dir)
    {
        var data = TrainingRun.Data(config);
        using var model = TrainingRun.CreateModel(TestBackends.Cpu, config, data.Vocabulary);
        var state = new CheckpointStore(dir).Load(model.Network, expectedConfig: config.ToJson());
        Assert.Equal(config.Steps, state.Step);
        return model.Network.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter.ToArray());
    }

    private sealed record Result(int ExitCode, string Output);

    private Result Launch(string mpirun, int ranks, string[] trainArgs, string tag, Action<string>? onLine = null)
    {
        var args = new[] { "--allow-run-as-root", "--oversubscribe", "-np", Invariant(ranks) }
            .Concat(tag.Length > 0 ? ["-x", $"LDDM_TEST_TAG={tag}"] : [])
            .Concat([Dotnet(), LddmDll(), "train"]).Concat(trainArgs).ToArray();
        return Run(mpirun, args, TimeSpan.FromSeconds(120), onLine);
    }

    private static Result Run(string file, IEnumerable<string> args, TimeSpan timeout, Action<string>? onLine = null)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var text = new StringBuilder();
        using var process = new Process { StartInfo = start };
        void Add(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (text)
            {
                text.AppendLine(line);
            }
            onLine?.Invoke(line);
        }
        process.OutputDataReceived += (_, e) => Add(e.Data);
        process.ErrorDataReceived += (_, e) => Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} ran longer than {timeout}:\n{text}");
        }
        process.WaitForExit(); // drains the output
        lock (text)
        {
            return new Result(process.ExitCode, text.ToString());
        }
    }

    /// <summary>The pid of rank <paramref name="rank"/> of the job tagged <paramref name="tag"/> (from /proc/*/environ).</summary>
    private static int FindRank(string tag, int rank)
    {
        string[] want = [$"LDDM_TEST_TAG={tag}", $"OMPI_COMM_WORLD_RANK={rank}"];
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
            {
                continue;
            }
            try
            {
                var env = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0');
                if (want.All(env.Contains) && File.ReadAllText(Path.Combine(dir, "cmdline")).Contains("lddm.dll", StringComparison.Ordinal))
                {
                    return pid;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // a process that ended or is not ours
            }
        }
        throw new InvalidOperationException($"rank {rank} of job {tag} not found in /proc");
    }

    /// <summary>mpirun's path; null (after saying so) when it is missing and LDDM_REQUIRE_MPI is not 1.</summary>
    private string? Mpirun()
    {
        string? found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);
        if (found is null)
        {
            Assert.False(Environment.GetEnvironmentVariable("LDDM_REQUIRE_MPI") == "1",
                "LDDM_REQUIRE_MPI=1 but mpirun is not on PATH: install Open MPI (Debian: apt-get install openmpi-bin libopenmpi-dev; .ci/run does).");
            output.WriteLine("mpirun is not on PATH: the two-rank MPI checks did not run (install openmpi-bin; .ci/run sets LDDM_REQUIRE_MPI=1).");
        }
        return found;
    }

    private static string Dotnet() => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    /// <summary>lddm.dll of the same configuration as this test assembly (the test project builds Lddm.Cli first).</summary>
    private static string LddmDll()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory); // tests/Lddm.Training.Tests/bin/<Configuration>/net10.0/
        string configuration = here.Parent!.Name;
        var root = here;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Lddm.sln")))
        {
            root = root.Parent;
        }
        Assert.True(root is not null, $"no Lddm.sln above {AppContext.BaseDirectory}");
        string dll = Path.Combine(root!.FullName, "Lddm.Cli", "bin", configuration, "net10.0", "lddm.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build Lddm.Cli ({configuration}) first");
        return dll;
    }
}
