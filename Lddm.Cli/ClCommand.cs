using Lddm.Kernels.Cl;

namespace Lddm.Cli;

/// <summary>
/// <c>lddm cl</c>: the OpenCL path proven without an OpenCL runtime. Every ILGPU kernel an OpenCL device loads is
/// generated as OpenCL C 2.0 by ILGPU's OpenCL backend and checked with clang, for the generic vendor and for Intel.
/// Exit code 1 on any generation or clang error.
/// </summary>
internal static class ClCommand
{
    public static int Run(Options options)
    {
        string? vendor = options.Value("vendor");
        string? dump = options.Value("dump");
        options.RejectUnused();
        ClVendor[] vendors = vendor switch
        {
            null => [ClVendor.Generic, ClVendor.Intel],
            "generic" => [ClVendor.Generic],
            "intel" => [ClVendor.Intel],
            _ => throw new ArgumentException($"--vendor '{vendor}': expected generic or intel."),
        };
        string clang = ClangCl.Locate() ?? throw new ArgumentException(
            $"clang not found: install Debian's clang (apt-get install clang) or set {ClangCl.EnvironmentVariable}.");
        int failures = 0, checkedCount = 0;
        Console.WriteLine($"{"kernel",-48} {"vendor",-8} {"lines",6}  result");
        foreach (var v in vendors)
        {
            string name = v.ToString().ToLowerInvariant();
            foreach (var k in Kernels.Ptx.PtxCompiler.Discover().Where(k => !ClCompiler.Applies(k, v)))
            {
                Console.WriteLine($"{k.Name,-48} {name,-8} {"-",6}  n/a: warp shuffles; OpenCL loads {k.Method.Name}NoShuffle");
            }
            foreach (var s in ClCompiler.GenerateAll(v))
            {
                checkedCount++;
                if (!s.Ok)
                {
                    failures++;
                    Console.WriteLine($"{s.Kernel.Name,-48} {name,-8} {"-",6}  ERROR (ILGPU) {s.Error}");
                    continue;
                }
                if (dump is not null)
                {
                    Directory.CreateDirectory(dump);
                    File.WriteAllText(Path.Combine(dump, $"{s.Kernel.Name}.{name}.cl"), s.Source);
                }
                var r = ClangCl.Check(clang, s.Kernel.Name, v, s.Source!);
                if (!r.Ok)
                {
                    failures++;
                }
                Console.WriteLine($"{s.Kernel.Name,-48} {name,-8} {r.SourceLines,6}  {(r.Ok ? "ok" : "ERROR " + r.Error)}");
            }
        }
        Console.WriteLine(failures == 0
            ? $"cl: {checkedCount} kernel sources generated and accepted by clang -cl-std=CL2.0 ({clang})"
            : $"cl: {failures} failure(s) of {checkedCount}");
        return failures == 0 ? 0 : 1;
    }
}
