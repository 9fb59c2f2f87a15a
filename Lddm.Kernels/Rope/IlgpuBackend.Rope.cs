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

    /// <summary>Launches one thread per pair with the resident cos/sin table (see <see cref="RopeTableView"/>).</summary>
    private void LaunchRope(Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, RopeShape> kernel,
        DeviceBuffer<float> src, int tokens, int headDim, float theta, DeviceBuffer<float> dst) =>
        kernel(src.Length / 2, View(src), RopeTableView(tokens, headDim, theta), View(dst), new RopeShape(tokens, headDim / 2));

    /// <summary>
    /// The host's float64-derived cos/sin table for (tokens, headDim, theta), resident on the device: uploaded once
    /// per shape, not per call (a model calls RoPE with one shape many times per step, and a few shapes in all, e.g.
    /// FUJI's joint sequence and its encoder's). Null theta (no RoPE): a one-element placeholder the kernels never
    /// read. Allocated outside the pool and freed with the accelerator.
    /// </summary>
    private ArrayView<float> RopeTableView(int tokens, int headDim, float? theta)
    {
        if (theta is not float th)
        {
            return (_ropeNone ??= _accelerator.Allocate1D<float>(1)).View;
        }
        lock (_ropeTables)
        {
            if (!_ropeTables.TryGetValue((tokens, headDim, th), out var device))
            {
                device = _accelerator.Allocate1D(RopeTable.Get(tokens, headDim, th).Values);
                _ropeTables[(tokens, headDim, th)] = device;
            }
            return device.View;
        }
    }

    private readonly Dictionary<(int Tokens, int HeadDim, float Theta), MemoryBuffer1D<float, Stride1D.Dense>> _ropeTables = new();
    private MemoryBuffer1D<float, Stride1D.Dense>? _ropeNone;
}
