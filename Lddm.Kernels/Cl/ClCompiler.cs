using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Ptx;

namespace Lddm.Kernels.Cl;

/// <summary>The OpenCL vendors ILGPU 1.5.3 generates different code for (it differs only in warp shuffles).</summary>
public enum ClVendor
{
    /// <summary>Any vendor but Intel (ILGPU's <c>CLDeviceVendor.Other</c>; AMD and NVIDIA generate the same): no shuffles.</summary>
    Generic,

    /// <summary>Intel: shuffles become <c>intel_sub_group_shuffle*</c> (cl_intel_subgroups).</summary>
    Intel,
}

/// <summary>One kernel's OpenCL C, or why ILGPU could not generate it.</summary>
public sealed record ClSource(GpuKernelInfo Kernel, ClVendor Vendor, string? Source, string? Error)
{
    public bool Ok => Error is null;
}

/// <summary>
/// Generates OpenCL C 2.0 for the ILGPU kernels with ILGPU's OpenCL backend, which needs no OpenCL runtime — the
/// OpenCL mirror of <see cref="PtxCompiler"/>; <see cref="ClangCl"/> then checks the source with clang.
/// </summary>
public static class ClCompiler
{
    /// <summary>
    /// The kernels an OpenCL device of <paramref name="vendor"/> can load: all but the warp-shuffle kernels for the
    /// generic vendor (the backend loads their <c>NoShuffle</c> twins instead), all of them for Intel.
    /// </summary>
    public static bool Applies(GpuKernelInfo kernel, ClVendor vendor) => vendor == ClVendor.Intel || !kernel.WarpShuffles;

    /// <summary>OpenCL C for every kernel that <see cref="Applies"/> to <paramref name="vendor"/>, in discovery order.</summary>
    public static IReadOnlyList<ClSource> GenerateAll(ClVendor vendor)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        using var backend = new CLBackend(context, Capabilities(vendor),
            vendor == ClVendor.Intel ? CLDeviceVendor.Intel : CLDeviceVendor.Other, CLCVersion.CL20);
        var result = new List<ClSource>();
        foreach (var kernel in PtxCompiler.Discover().Where(k => Applies(k, vendor)))
        {
            try
            {
                var compiled = (CLCompiledKernel)backend.Compile(kernel.EntryPoint(), default(KernelSpecialization));
                result.Add(new ClSource(kernel, vendor, compiled.Source, null));
            }
            catch (Exception e) when (e is InternalCompilerException or NotSupportedException or InvalidOperationException)
            {
                result.Add(new ClSource(kernel, vendor, null, Describe(e)));
            }
        }
        return result;
    }

    /// <summary>
    /// What ILGPU's runtime assumes of an OpenCL 2.0 device: the generic address space (ILGPU refuses devices
    /// without it), fp64 (the Gaussian sampler's Box–Muller runs in double) and 64-bit atomics; no fp16. Subgroups
    /// only for Intel, the one vendor ILGPU 1.5.3 writes shuffles for.
    /// </summary>
    private static CLCapabilityContext Capabilities(ClVendor vendor) =>
        new(float16: false, float64: true, genericAddressSpace: true, int64_Atomics: true, subGroups: vendor == ClVendor.Intel);

    /// <summary>The innermost message: ILGPU wraps code-generation errors in two layers.</summary>
    private static string Describe(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }
        return inner == e ? $"{e.GetType().Name}: {e.Message}" : $"{e.GetType().Name}: {inner.GetType().Name}: {inner.Message}";
    }
}
