using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, RopeShape>? _ropeForward, _ropeBackward;

    protected override void RopeForwardCore(DeviceBuffer<float> x, int batch, int heads, int tokens, int headDim,
        float theta, DeviceBuffer<float> y)
    {
        _ropeForward ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, RopeShape>(RopeIlgpuKernels.RopeForward);
        LaunchRope(_ropeForward, x, tokens, headDim, theta, y);
    }

    protected override void RopeBackwardCore(DeviceBuffer<float> dy, int batch, int heads, int tokens, int headDim,
        float theta, DeviceBuffer<float> dx)
    {
        _ropeBackward ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, RopeShape>(RopeIlgpuKernels.RopeBackward);
        LaunchRope(_ropeBackward, dy, tokens, headDim, theta, dx);
    }

    /// <summary>
    /// Uploads the host's float64-derived cos/sin table into a pooled buffer and launches one thread per pair.
    /// Returning the table to the pool right after the launch is safe: every later use of that buffer (an
    /// upload or a kernel) is ordered after this kernel on the same stream.
    /// </summary>
    private void LaunchRope(Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, RopeShape> kernel,
        DeviceBuffer<float> src, int tokens, int headDim, float theta, DeviceBuffer<float> dst)
    {
        var table = RopeTable.Get(tokens, headDim, theta);
        using var device = Allocate<float>(table.Values.Length);
        device.CopyFrom(table.Values);
        kernel(src.Length / 2, View(src), View(device), View(dst), new RopeShape(tokens, headDim / 2));
    }
}
