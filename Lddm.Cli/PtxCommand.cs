using System.Globalization;
using Lddm.Kernels.Ptx;

namespace Lddm.Cli;

/// <summary><c>lddm ptx</c>: the GPU path proven without a GPU. Exit code 1 on any compile or ptxas error.</summary>
internal static class PtxCommand
{
    public static int Run(Options options)
    {
        string? arch = options.Value("arch");
        string? dump = options.Value("dump");
        options.RejectUnused();
        var archs = arch is null ? PtxCompiler.Architectures : [arch];
        string ptxas = Ptxas.Locate() ?? throw new ArgumentException(
            $"ptxas not found: run scripts/fetch-ptxas.sh and set {Ptxas.EnvironmentVariable} to the path it prints.");
        int failures = 0;
        Console.WriteLine($"{"kernel",-48} {"arch",-6} {"regs",5} {"smem B",7} {"stack B",7} {"spill st",8} {"spill ld",8}");
        foreach (string a in archs)
        {
            foreach (var (kernel, ptx) in PtxCompiler.CompileAll(a))
            {
                if (dump is not null)
                {
                    Directory.CreateDirectory(dump);
                    File.WriteAllText(Path.Combine(dump, $"{kernel.Name}.{a}.ptx"), ptx);
                }
                var r = Ptxas.Assemble(ptxas, kernel.Name, ptx, a);
                if (!r.Ok)
                {
                    failures++;
                    Console.WriteLine($"{kernel.Name,-48} {a,-6} ERROR {r.Error}");
                    continue;
                }
                bool spills = r.SpillStoreBytes + r.SpillLoadBytes > 0;
                if (spills && kernel.Hot)
                {
                    failures++;
                }
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{kernel.Name,-48} {a,-6} {r.Registers,5} {r.SharedBytes,7} {r.StackBytes,7} {r.SpillStoreBytes,8} {r.SpillLoadBytes,8}{(spills && kernel.Hot ? "  <- hot kernel spills" : "")}"));
            }
        }
        Console.WriteLine(failures == 0 ? "ptx: every kernel assembled" : $"ptx: {failures} failure(s)");
        return failures == 0 ? 0 : 1;
    }
}
