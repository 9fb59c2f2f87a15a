using System.Diagnostics;

namespace Lddm.Kernels.Ptx;

/// <summary>
/// Runs an external compiler (ptxas, clang) on one generated source: writes it into a fresh temporary folder, runs the
/// tool with the arguments its argument builder makes from the input path and the folder, and returns the
/// exit code with stderr + stdout. The folder is deleted afterwards.
/// </summary>
internal static class ToolRun
{
    public static (int ExitCode, string Log) Run(string tool, string fileName, string source,
        Func<string, string, IEnumerable<string>> arguments)
    {
        string dir = Directory.CreateTempSubdirectory("lddm-tool-").FullName;
        try
        {
            string input = Path.Combine(dir, fileName);
            File.WriteAllText(input, source);
            var psi = new ProcessStartInfo(tool)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (string a in arguments(input, dir))
            {
                psi.ArgumentList.Add(a);
            }
            using var process = Process.Start(psi)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            string log = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, log + stdout.Result);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
