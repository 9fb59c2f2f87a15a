using System.Diagnostics;

namespace Lddm.Kernels.Cl;

/// <summary>What clang said about one kernel's OpenCL C.</summary>
public sealed record ClangReport(string Kernel, ClVendor Vendor, int SourceLines, string? Error)
{
    public bool Ok => Error is null;
}

/// <summary>
/// Checks OpenCL C with Debian's clang (<c>clang -x cl -cl-std=CL2.0 -fsyntax-only</c>): the OpenCL front end
/// parses and type-checks the kernel against the OpenCL C 2.0 built-ins, as a device compiler would first do.
/// clang is <c>LDDM_CLANG</c>, else <c>clang</c> on PATH, else the newest <c>clang-N</c> on PATH.
/// </summary>
public static class ClangCl
{
    public const string EnvironmentVariable = "LDDM_CLANG";

    /// <summary>The clang to use, or null when none is installed.</summary>
    public static string? Locate()
    {
        string? path = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(path))
        {
            return File.Exists(path) ? path
                : throw new FileNotFoundException($"{EnvironmentVariable} points to '{path}', which does not exist.");
        }
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        foreach (string dir in dirs)
        {
            string candidate = Path.Combine(dir, "clang");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return dirs.Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "clang-*"))
            .Select(f => (Path: f, Version: int.TryParse(Path.GetFileName(f)["clang-".Length..], out int v) ? v : -1))
            .Where(c => c.Version > 0)
            .OrderByDescending(c => c.Version)
            .Select(c => c.Path)
            .FirstOrDefault();
    }

    /// <summary>
    /// The arguments before the file: OpenCL C 2.0, syntax and semantics only. For Intel, cl_intel_subgroups is
    /// enabled and clang's full <c>opencl-c.h</c> included: only it declares <c>intel_sub_group_shuffle*</c>
    /// (clang 14's default built-in tables do not), as Intel's own compiler does.
    /// </summary>
    public static IReadOnlyList<string> Arguments(ClVendor vendor) => vendor == ClVendor.Intel
        ? ["-x", "cl", "-cl-std=CL2.0", "-fsyntax-only", "-include", "opencl-c.h", "-Xclang", "-cl-ext=+cl_intel_subgroups"]
        : ["-x", "cl", "-cl-std=CL2.0", "-fsyntax-only"];

    /// <summary>Runs clang on <paramref name="source"/>; any diagnostic that fails the check is the error.</summary>
    public static ClangReport Check(string clang, string kernel, ClVendor vendor, string source)
    {
        var (exit, log) = Ptx.ToolRun.Run(clang, "kernel.cl", source, (input, _) => [.. Arguments(vendor), input]);
        int lines = source.Count(c => c == '\n');
        return new ClangReport(kernel, vendor, lines, exit == 0 ? null : $"clang exit {exit}: {FirstLines(log.Trim(), 6)}");
    }

    private static string FirstLines(string text, int n) => string.Join(" | ", text.Split('\n').Take(n).Select(l => l.Trim()));
}
