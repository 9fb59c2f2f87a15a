using Lddm.Kernels.Cpu;
using Lddm.Kernels.Ilgpu;

namespace Lddm.Kernels;

/// <summary>One device a backend can run on.</summary>
/// <param name="Spec">The <c>--device</c> string that selects it, e.g. "cuda:0".</param>
/// <param name="Description">What it is.</param>
public sealed record DeviceInfo(string Spec, string Description);

/// <summary>
/// Parses <c>--device auto|cpu|cuda[:i]|opencl[:i]|ilgpu-cpu</c> and creates the backend.
/// <c>auto</c> picks CUDA, else an OpenCL device ILGPU supports, else the SIMD CPU backend; it never picks
/// the ILGPU CPU simulator, which exists for tests.
/// </summary>
public static class Devices
{
    public const string Help = "auto|cpu|cuda[:i]|opencl[:i]|ilgpu-cpu";

    /// <summary>Lists every device this machine offers, in <c>auto</c>'s order of preference.</summary>
    public static IReadOnlyList<DeviceInfo> List()
    {
        var result = new List<DeviceInfo>();
        using (var context = IlgpuContexts.Create())
        {
            foreach (var kind in new[] { BackendKind.Cuda, BackendKind.OpenCL })
            {
                var devices = IlgpuContexts.Devices(context, kind);
                for (int i = 0; i < devices.Count; i++)
                {
                    string prefix = kind == BackendKind.Cuda ? "cuda" : "opencl";
                    result.Add(new DeviceInfo($"{prefix}:{i}", $"{devices[i].Name} ({devices[i].MemorySize / (1 << 20)} MiB)"));
                }
            }
        }
        result.Add(new DeviceInfo("cpu", $"SIMD CPU kernels: {CpuBackend.Isa}, {Environment.ProcessorCount} cores"));
        result.Add(new DeviceInfo("ilgpu-cpu", "ILGPU CPU accelerator (GPU-kernel simulator for tests; slow)"));
        return result;
    }

    /// <summary>The spec <c>auto</c> resolves to on this machine.</summary>
    public static string ResolveAuto() => List()[0].Spec;

    /// <summary>Creates the backend named by <paramref name="spec"/>; throws with the accepted forms on a bad spec.</summary>
    public static Backend Create(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string s = spec.Trim().ToLowerInvariant();
        if (s == "auto")
        {
            s = ResolveAuto();
        }
        if (s == "cpu")
        {
            return new CpuBackend();
        }
        if (s == "ilgpu-cpu")
        {
            return IlgpuBackend.CreateCpuSimulator();
        }
        string[] parts = s.Split(':');
        var kind = parts[0] switch
        {
            "cuda" => BackendKind.Cuda,
            "opencl" => BackendKind.OpenCL,
            _ => throw new ArgumentException($"Unknown device '{spec}': expected {Help}.", nameof(spec)),
        };
        int index = 0;
        if (parts.Length > 2 || (parts.Length == 2 && !int.TryParse(parts[1], out index)))
        {
            throw new ArgumentException($"Bad device index in '{spec}': expected {Help}.", nameof(spec));
        }
        return IlgpuBackend.Create(kind, index);
    }
}
