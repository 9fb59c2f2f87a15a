using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Cli.Tests;

/// <summary>
/// The real <c>lddm</c> as a child process: killed (SIGKILL, including inside the first save) and resumed until done,
/// two runs on one <c>--out</c>, a malformed config. A tiny sawtooth MDLM keeps each process around a second.
/// </summary>
public sealed class ProcessTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-process-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] s_tiny =
    [
        "train", "--data", "sawtooth", "--preset", "xxs", "--length", "8", "--batch", "4", "--seed", "3", "--device", "cpu",
        "--set", "warmup_steps=2", "--set", "log_every=4", "--set", "eval_every=0", "--set", "eval_sequences=4", "--set", "checkpoint_every=3",
    ];

    private static string[] Tiny(int steps, string outDir) => [.. s_tiny, "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", outDir];

    /// <summary>The built lddm.dll (next to the tests when its runtimeconfig came along, else in the CLI's own bin).</summary>
    private static string LddmDll()
    {
        string here = Path.GetDirectoryName(typeof(ProcessTests).Assembly.Location)!;
        if (File.Exists(Path.Combine(here, "lddm.runtimeconfig.json")))
        {
            return Path.Combine(here, "lddm.dll");
        }
        // tests/Lddm.Cli.Tests/bin/<Configuration>/<tfm>/ → Lddm.Cli/bin/<Configuration>/<tfm>/lddm.dll
        var tfm = new DirectoryInfo(here);
        string configuration = tfm.Parent!.Name;
        return Path.GetFullPath(Path.Combine(here, "../../../../../Lddm.Cli/bin", configuration, tfm.Name, "lddm.dll"));
    }

    private Process Start(string[] args, string? fault = null)
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _dir,
        };
        info.ArgumentList.Add(LddmDll());
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }
        info.Environment["LDDM_FAULT"] = fault ?? "";
        return Process.Start(info)!;
    }

    private (int Code, string Out, string Err) Run(string[] args, string? fault = null, int timeoutSeconds = 120)
    {
        using var p = Start(args, fault);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"lddm {string.Join(' ', args)} did not finish within {timeoutSeconds} s");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The bytes of every file of the latest snapshot, by name.</summary>
    private static Dictionary<string, byte[]> LatestSnapshot(string run)
    {
        string name = File.ReadAllText(Path.Combine(run, "latest")).Trim();
        return Directory.GetFiles(Path.Combine(run, name)).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
    }

    [Fact]
    public void A_malformed_config_prints_one_line_and_exits_2()
    {
        string bad = Path.Combine(_dir, "bad.json");
        File.WriteAllText(bad, "{\"steps\": NaN, ");
        var (code, _, err) = Run(["train", "--config", bad, "--out", Path.Combine(_dir, "never")]);
        Assert.Equal(2, code);
        string line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("lddm: Config file ", line);
        Assert.Contains("bad.json", line);
        Assert.False(Directory.Exists(Path.Combine(_dir, "never")), "a bad config must fail before --out is created");
    }

    [Fact]
    public void Train_help_and_version_exit_0_and_a_bad_flag_exits_2_with_one_line()
    {
        var help = Run(["train", "--help"]);
        Assert.True(help.Code == 0, help.Err);
        Assert.Contains("--corpus", help.Out);
        Assert.Equal(0, Run(["--version"]).Code);
        var bad = Run(["sample", "--checkpoint", "x", "--temperature", "1,5"]);
        Assert.Equal(2, bad.Code);
        Assert.Equal("lddm: --temperature expects a number > 0 such as 0.8 (with a '.' decimal point) but got '1,5' (lddm sample --help lists its options)",
            Assert.Single(bad.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    /// <summary>
    /// Every verb whose body fails fast on a missing checkpoint or folder reads every option the parser gave it (an
    /// unread one would be exit 70, a bug): the body fails on the input, exit 2, after checking its options.
    /// </summary>
    [Theory]
    [InlineData("sample --checkpoint missing --steps 3 --count 2 --seed 5 --temperature 0.5 --sampler joint --latent-steps 2 --device cpu")]
    [InlineData("eval --checkpoint missing --draws 2 --samples 8 --steps 2,4 --batch 4 --seed 5 --sampler joint --latent-steps 2 --device cpu")]
    [InlineData("sweep --checkpoint missing --label a --steps 2 --count 8 --out p --batch 4 --seed 5 --append a.csv --sampler joint --latent-steps 2 --device cpu")]
    [InlineData("eval-gen --judge missing --checkpoint missing --label a --steps 2 --count 8 --out p --batch 4 --seed 5 --temperature 1 --sampler joint --latent-steps 2 --device cpu")]
    [InlineData("prepare-corpus --raw missing --out prepared")]
    [InlineData("train --model mdlm --stage 0 --data text --corpus missing.txt --preset xxs --steps 2 --batch 2 --length 8 --seed 5 --set log_every=1 --resume --device cpu")]
    [InlineData("train --config missing.json")]
    public void Every_option_reaches_its_verb_and_bad_input_exits_2(string line)
    {
        var (code, _, err) = Run(line.Split(' '));
        Assert.True(code == 2, err);
        Assert.DoesNotContain("bug:", err);
    }

    /// <summary>A user's own text file: trained on for a few steps, cached beside the run, sampled from another folder.</summary>
    [Fact]
    public void Trains_a_few_steps_on_a_text_file_and_samples_from_it()
    {
        var rng = new Random(11);
        var text = new System.Text.StringBuilder();
        while (text.Length < 4000)
        {
            text.Append(string.Concat(Enumerable.Range(0, rng.Next(1, 8)).Select(_ => (char)('a' + rng.Next(26)))));
            text.Append(rng.Next(6) == 0 ? ", Éa 7! " : " ");
        }
        string file = Path.Combine(_dir, "mine.txt");
        File.WriteAllText(file, text.ToString());
        string run = Path.Combine(_dir, "own-run");
        var trained = Run(["train", "--corpus", "mine.txt", "--preset", "xxs", "--length", "8", "--batch", "4", "--steps", "4", "--device", "cpu",
            "--set", "warmup_steps=1", "--set", "log_every=2", "--set", "eval_every=0", "--set", "eval_sequences=4", "--out", run]);
        Assert.True(trained.Code == 0, trained.Out + trained.Err);
        Assert.Contains($"data:   {file}: ", trained.Out);
        foreach (string split in new[] { "train.txt", "valid.txt", "test.txt", "source.json", "normalization.txt" })
        {
            Assert.True(File.Exists(Path.Combine(run, "corpus", split)), split);
        }
        File.Delete(file); // the run keeps its prepared text
        var sampled = Run(["sample", "--checkpoint", run, "--count", "3", "--steps", "4", "--device", "cpu"]);
        Assert.True(sampled.Code == 0, sampled.Err);
        var lines = sampled.Out.Split('\n').SkipWhile(l => !l.StartsWith("samples", StringComparison.Ordinal)).Skip(1)
            .Where(l => l.StartsWith("  ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, lines.Count);
        Assert.All(lines, l => Assert.Matches("^  [a-z ]{8}$", l));

        var tooShort = Path.Combine(_dir, "short.txt");
        File.WriteAllText(tooShort, "Call me Ishmael.");
        var refused = Run(["train", "--corpus", tooShort, "--length", "8", "--out", Path.Combine(_dir, "short-run")]);
        Assert.Equal(2, refused.Code);
        Assert.Contains($"lddm: Corpus '{tooShort}' is too short", Assert.Single(refused.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Contains("at least 160 characters", refused.Err);
    }

    [Fact]
    public void Killed_at_any_moment_then_resumed_ends_byte_identical_to_an_uninterrupted_run()
    {
        const int steps = 12;
        string straight = Path.Combine(_dir, "straight");
        var reference = Run(Tiny(steps, straight));
        Assert.True(reference.Code == 0, reference.Err);
        var expected = LatestSnapshot(straight);

        string run = Path.Combine(_dir, "killed");
        // SIGKILL inside the first save (after its first tensor file), after a later snapshot's rename but before
        // its pointer moved, inside a later save, then at random moments; every restart is a bare --resume.
        string?[] faults = ["snapshot-file@1", "snapshot-renamed@1", "snapshot-file@5", null, null];
        var rng = new Random(17);
        bool first = true;
        foreach (string? fault in faults)
        {
            string[] args = first ? Tiny(steps, run) : ["train", "--out", run, "--resume"];
            int code;
            if (fault is not null)
            {
                code = Run(args, fault).Code;
            }
            else
            {
                using var p = Start(args);
                _ = p.StandardOutput.ReadToEndAsync();
                _ = p.StandardError.ReadToEndAsync();
                if (!p.WaitForExit(rng.Next(250, 1100)))
                {
                    p.Kill();
                }
                p.WaitForExit();
                code = p.ExitCode;
            }
            output.WriteLine($"{(fault ?? "timed kill"),-20} exit {code}; snapshots now: {string.Join(", ", Directory.GetDirectories(run).Select(Path.GetFileName))}");
            first = false;
        }
        var final = Run(["train", "--out", run, "--resume"]);
        Assert.True(final.Code == 0, final.Out + final.Err);
        var actual = LatestSnapshot(run);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (file, bytes) in expected)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(actual[file]), $"{file} differs from the uninterrupted run's");
        }
        Assert.Empty(Directory.GetFileSystemEntries(run, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_second_run_on_the_same_out_fails_fast_naming_the_holder_and_the_first_finishes_intact()
    {
        string run = Path.Combine(_dir, "shared");
        using var first = Start([.. Tiny(400, run), "--set", "checkpoint_every=100"]);
        var firstOut = first.StandardOutput.ReadToEndAsync();
        var firstErr = first.StandardError.ReadToEndAsync();
        var wait = Stopwatch.StartNew();
        while (!File.Exists(Path.Combine(run, "lddm.pid")) && wait.Elapsed < TimeSpan.FromSeconds(60))
        {
            Thread.Sleep(20);
        }
        var second = Run(Tiny(60, run));
        var third = Run(["train", "--out", run, "--resume"]);
        bool firstStillRunning = !first.HasExited;
        Assert.True(first.WaitForExit(TimeSpan.FromSeconds(120)));
        first.WaitForExit();
        Assert.True(first.ExitCode == 0, await firstOut + await firstErr);
        foreach (var (code, _, err) in new[] { second, third })
        {
            Assert.Equal(2, code);
            Assert.Contains($"is in use by another training run: PID {first.Id} (running)", err);
        }
        output.WriteLine($"first run still running when the others were refused: {firstStillRunning}");
        // The first run's checkpoint is complete and verifies (hashes, names, shapes, finite weights).
        var sample = Run(["sample", "--checkpoint", run, "--count", "1", "--steps", "4"]);
        Assert.True(sample.Code == 0, sample.Err);
        Assert.Contains("step 400", sample.Out);
    }
}
