using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Creates ILGPU contexts the same way everywhere (O2, all accelerator kinds) and lists devices.</summary>
internal static class IlgpuContexts
{
    /// <summary>
    /// ILGPU's default CPU device has 4-thread warps and 16-thread groups; ours mimics an NVIDIA SM slice
    /// (32-thread warps, groups up to 256) so kernels run on the simulator with the launch shapes they use on a GPU.
    /// </summary>
    public static readonly CPUDevice SimulatorDevice = new(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 8, numMultiprocessors: 1);

    /// <summary>Math intrinsics (exp, log, …) need ILGPU.Algorithms; O2 as measured best for ILGPU 1.5.3.</summary>
    public static Context Create() =>
        Context.Create(builder => builder.AllAccelerators().CPU(SimulatorDevice).EnableAlgorithms().Optimize(OptimizationLevel.O2));

    /// <summary>The simulator device registered by <see cref="Create"/> (the last CPU device).</summary>
    public static int SimulatorIndex(Context context) => context.GetCPUDevices().Count - 1;

    /// <summary>The devices of one kind the context can see (none on a machine without that runtime).</summary>
    public static List<Device> Devices(Context context, BackendKind kind)
    {
        var type = kind switch
        {
            BackendKind.Cuda => AcceleratorType.Cuda,
            BackendKind.OpenCL => AcceleratorType.OpenCL,
            BackendKind.IlgpuCpu => AcceleratorType.CPU,
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not an ILGPU device kind."),
        };
        return context.Devices.Where(d => d.AcceleratorType == type).ToList();
    }
}
