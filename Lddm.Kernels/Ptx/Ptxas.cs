using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Lddm.Kernels.Ptx;

/// <summary>What <c>ptxas -v</c> said about one kernel.</summary>
public sealed record PtxasReport(string Kernel, string Arch, int Registers, int SharedBytes, int StackBytes,
    int SpillStoreBytes, int SpillLoadBytes, string? Error)
{
    public bool Ok => Error is null;
}

/// <summary>
/// Runs NVIDIA's PTX assembler on ILGPU's output. ptxas is taken from <c>LDDM_PTXAS</c> (set by
/// <c>scripts/fetch-ptxas.sh</c>, which extracts Debian's nvidia-cuda-toolkit without installing it).
/// </summary>
public static partial class Ptxas
{
    public const string EnvironmentVariable = "LDDM_PTXAS";

    /// <summary>The ptxas to use: <c>LDDM_PTXAS</c>, else the repository's cache, else null.</summary>
    public static string? Locate()
    {
        string? path = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(path))
        {
            return File.Exists(path) ? path
                : throw new FileNotFoundException($"{EnvironmentVariable} points to '{path}', which does not exist.");
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, ".cache", "ptxas", "root", "usr", "bin", "ptxas");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>Assembles <paramref name="ptx"/> for <paramref name="arch"/> and parses the resource usage.</summary>
    public static PtxasReport Assemble(string ptxas, string kernel, string ptx, string arch)
    {
        var (exit, log) = ToolRun.Run(ptxas, "kernel.ptx", ptx,
            (input, dir) => ["-v", "--gpu-name", arch, "-o", Path.Combine(dir, "kernel.cubin"), input]);
        return exit != 0
            ? new PtxasReport(kernel, arch, 0, 0, 0, 0, 0, $"ptxas exit {exit}: {log.Trim()}")
            : Parse(kernel, arch, log);
    }

    /// <summary>Sums the resource lines of every function ptxas reports (ILGPU emits one entry per module).</summary>
    public static PtxasReport Parse(string kernel, string arch, string log)
    {
        int Max(Regex r) => r.Matches(log).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))
            .DefaultIfEmpty(0).Max();
        if (!RegistersRegex().IsMatch(log))
        {
            return new PtxasReport(kernel, arch, 0, 0, 0, 0, 0, $"ptxas printed no resource usage: {log.Trim()}");
        }
        return new PtxasReport(kernel, arch, Max(RegistersRegex()), Max(SharedRegex()), Max(StackRegex()),
            Max(SpillStoresRegex()), Max(SpillLoadsRegex()), null);
    }

    [GeneratedRegex(@"Used (\d+) registers")]
    private static partial Regex RegistersRegex();

    [GeneratedRegex(@"(\d+) bytes smem")]
    private static partial Regex SharedRegex();

    [GeneratedRegex(@"(\d+) bytes stack frame")]
    private static partial Regex StackRegex();

    [GeneratedRegex(@"(\d+) bytes spill stores")]
    private static partial Regex SpillStoresRegex();

    [GeneratedRegex(@"(\d+) bytes spill loads")]
    private static partial Regex SpillLoadsRegex();
}
