using System.Diagnostics;
using Xunit;

namespace Lddm.Cli.Tests;

/// <summary>
/// <c>lddm sample --prompt / --infill / --block</c> on a real (tiny, 2-step) text checkpoint, as a child process: the kept
/// characters come back in every completion, and a bad template is one clear line with exit code 2.
/// </summary>
public sealed class ConditionalCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-cond-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        string here = Path.GetDirectoryName(typeof(ConditionalCliTests).Assembly.Location)!;
        string dll = File.Exists(Path.Combine(here, "lddm.runtimeconfig.json")) ? Path.Combine(here, "lddm.dll")
            : Path.GetFullPath(Path.Combine(here, "../../../../../Lddm.Cli/bin", new DirectoryInfo(here).Parent!.Name, new DirectoryInfo(here).Name, "lddm.dll"));
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _dir,
        };
        info.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(180)), $"lddm {string.Join(' ', args)} did not finish");
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void Prompt_and_infill_keep_their_characters_and_a_bad_template_is_one_clear_error()
    {
        string run = Path.Combine(_dir, "run");
        var train = Run("train", "--data", "text", "--corpus", "moby-dick", "--preset", "xxs", "--length", "24", "--batch", "4",
            "--steps", "2", "--seed", "3", "--device", "cpu", "--set", "warmup_steps=1", "--set", "eval_every=0", "--set", "eval_sequences=4",
            "--out", run);
        Assert.True(train.Code == 0, train.Err);

        var prompt = Run("sample", "--checkpoint", run, "--prompt", "Call me ", "--count", "3", "--steps", "4", "--device", "cpu");
        Assert.True(prompt.Code == 0, prompt.Err);
        var lines = Completions(prompt.Out);
        Assert.Equal(3, lines.Count);
        Assert.All(lines, l => Assert.StartsWith("call me ", l, StringComparison.Ordinal));
        Assert.All(lines, l => Assert.Equal(24, l.Length));

        var infill = Run("sample", "--checkpoint", run, "--infill", "the ___ whale", "--block", "4", "--count", "2", "--steps", "8", "--device", "cpu");
        Assert.True(infill.Code == 0, infill.Err);
        Assert.All(Completions(infill.Out), l => Assert.Matches("^the [a-z ]{3} whale[a-z ]{11}$", l));

        var none = Run("sample", "--checkpoint", run, "--infill", "the whale", "--device", "cpu");
        Assert.Equal(2, none.Code);
        Assert.Contains("has no placeholder '_'", none.Err, StringComparison.Ordinal);
        var tooFew = Run("sample", "--checkpoint", run, "--prompt", "call", "--block", "1", "--steps", "3", "--device", "cpu");
        Assert.Equal(2, tooFew.Code);
        Assert.Contains("need N ≥ 20", tooFew.Err, StringComparison.Ordinal);
    }

    /// <summary>The indented completion lines after "completions, …".</summary>
    private static List<string> Completions(string stdout) =>
        [.. stdout.Split('\n').SkipWhile(l => !l.StartsWith("completions", StringComparison.Ordinal)).Skip(1)
            .Where(l => l.StartsWith("  ", StringComparison.Ordinal)).Select(l => l[2..].TrimEnd('\r'))];
}
