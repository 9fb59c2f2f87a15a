namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// Marks a static ILGPU kernel entry point. <c>lddm ptx</c> and the PTX tests find every marked method by
/// reflection and compile it with ILGPU's PTX backend, so a kernel cannot be left out of the proof.
/// A kernel whose first parameter is an <c>Index1D/2D/3D</c> is implicitly grouped; otherwise it is
/// explicitly grouped (uses <c>Grid</c>/<c>Group</c> and possibly shared memory).
/// Generic kernels name the type arguments to compile with in <see cref="TypeArguments"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class GpuKernelAttribute : Attribute
{
    /// <summary>Concrete type arguments for a generic kernel (one instantiation compiled per entry).</summary>
    public Type[] TypeArguments { get; init; } = [];

    /// <summary>True for a hot kernel whose PTX must show zero spill bytes.</summary>
    public bool Hot { get; init; }

    /// <summary>
    /// True for a kernel that uses warp shuffles: loaded only where <c>IlgpuBackend.UseWarpShuffles</c> (CUDA, and
    /// the simulator unless told otherwise); OpenCL loads its shared-memory twin <c>&lt;name&gt;NoShuffle</c>.
    /// ILGPU 1.5.3 writes shuffles in OpenCL C only for Intel devices, so <c>lddm cl</c> compiles it for Intel only.
    /// </summary>
    public bool WarpShuffles { get; init; }
}
