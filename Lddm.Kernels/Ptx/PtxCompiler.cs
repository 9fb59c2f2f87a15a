using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Lddm.Kernels.Ilgpu;

namespace Lddm.Kernels.Ptx;

/// <summary>One ILGPU kernel entry point found by reflection.</summary>
/// <param name="Name">Declaring type and method, e.g. "MatmulIlgpuKernels.Tiled".</param>
/// <param name="Method">The kernel method.</param>
/// <param name="Hot">A kernel on the training hot path.</param>
/// <param name="WarpShuffles">See <see cref="GpuKernelAttribute.WarpShuffles"/>.</param>
public sealed record GpuKernelInfo(string Name, MethodInfo Method, bool Hot, bool WarpShuffles = false)
{
    /// <summary>How ILGPU sees the entry point: implicitly grouped when the first parameter is an Index1D/2D/3D.</summary>
    public EntryPointDescription EntryPoint()
    {
        var parameters = Method.GetParameters();
        bool implicitlyGrouped = parameters.Length > 0 &&
            parameters[0].ParameterType is var t && (t == typeof(Index1D) || t == typeof(Index2D) || t == typeof(Index3D));
        return implicitlyGrouped
            ? EntryPointDescription.FromImplicitlyGroupedKernel(Method)
            : EntryPointDescription.FromExplicitlyGroupedKernel(Method);
    }
}

/// <summary>
/// Compiles ILGPU kernels to PTX with ILGPU's PTX backend, which needs no GPU. This is how the GPU path is
/// proven on machines without one: every <see cref="GpuKernelAttribute"/> method is compiled here and the
/// PTX is assembled by NVIDIA's ptxas (<see cref="Ptxas"/>).
/// </summary>
public static class PtxCompiler
{
    /// <summary>The architectures we prove: Ampere and Hopper.</summary>
    public static readonly string[] Architectures = ["sm_80", "sm_90"];

    /// <summary>Every marked kernel in this assembly (generic kernels once per listed type argument set).</summary>
    public static IReadOnlyList<GpuKernelInfo> Discover()
    {
        var result = new List<GpuKernelInfo>();
        var flags = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
        foreach (var type in typeof(PtxCompiler).Assembly.GetTypes())
        {
            foreach (var method in type.GetMethods(flags))
            {
                var attribute = method.GetCustomAttribute<GpuKernelAttribute>();
                if (attribute is null)
                {
                    continue;
                }
                var m = method.IsGenericMethodDefinition ? method.MakeGenericMethod(attribute.TypeArguments) : method;
                string suffix = method.IsGenericMethodDefinition
                    ? "<" + string.Join(",", attribute.TypeArguments.Select(t => t.Name)) + ">"
                    : "";
                result.Add(new GpuKernelInfo($"{type.Name}.{method.Name}{suffix}", m, attribute.Hot, attribute.WarpShuffles));
            }
        }
        return result.OrderBy(k => k.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Compiles every kernel (or those <paramref name="where"/> selects) for <paramref name="arch"/> ("sm_80" or
    /// "sm_90"); returns name → PTX text.
    /// </summary>
    public static IReadOnlyList<(GpuKernelInfo Kernel, string Ptx)> CompileAll(string arch, Func<GpuKernelInfo, bool>? where = null)
    {
        var architecture = ParseArchitecture(arch);
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture,
            InstructionSet, null);
        var result = new List<(GpuKernelInfo, string)>();
        foreach (var kernel in Discover().Where(k => where is null || where(k)))
        {
            // ILGPU caps .target at sm_80; name the real target so ptxas checks the kernel against sm_90 rules.
            string ptx = Compile(backend, kernel).Replace(".target sm_80", $".target {arch}", StringComparison.Ordinal);
            result.Add((kernel, ptx));
        }
        return result;
    }

    /// <summary>PTX ISA 7.8: the newest that Debian 12's ptxas (CUDA 11.8) accepts, and the first with sm_90.</summary>
    private static CudaInstructionSet InstructionSet => CudaInstructionSet.ISA_78;

    private static string Compile(PTXBackend backend, GpuKernelInfo kernel) =>
        ((PTXCompiledKernel)backend.Compile(kernel.EntryPoint(), default(KernelSpecialization))).PTXAssembly;

    private static CudaArchitecture ParseArchitecture(string arch) => arch switch
    {
        "sm_80" => CudaArchitecture.SM_80,
        "sm_90" => CudaArchitecture.SM_90,
        _ => throw new ArgumentException($"Unsupported architecture '{arch}': expected sm_80 or sm_90.", nameof(arch)),
    };
}
