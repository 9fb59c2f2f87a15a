using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int>? _softmaxForward, _logSoftmaxForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _softmaxBackward, _logSoftmaxBackward;
    [ThreadStatic] private static int t_lastRowQuad;

    /// <summary>
    /// The flag <see cref="RowQuad"/> chose for the last row-kernel launch queued from this thread (tests check the path
    /// taken; per thread, so kernels launched by tests running in parallel do not interfere).
    /// </summary>
    internal static int LastRowQuad => t_lastRowQuad;

    protected override void SoftmaxForwardCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y)
    {
        _softmaxForward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<float>, int, int>>(
            SoftmaxIlgpuKernels.SoftmaxForward, SoftmaxIlgpuKernels.SoftmaxForwardNoShuffle));
        int quad = RowQuad(cols, x, y);
        _softmaxForward(RowConfig(rows, cols, quad), View(x), View(y), cols, quad);
    }

    protected override void LogSoftmaxForwardCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y)
    {
        _logSoftmaxForward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<float>, int, int>>(
            SoftmaxIlgpuKernels.LogSoftmaxForward, SoftmaxIlgpuKernels.LogSoftmaxForwardNoShuffle));
        int quad = RowQuad(cols, x, y);
        _logSoftmaxForward(RowConfig(rows, cols, quad), View(x), View(y), cols, quad);
    }

    protected override void SoftmaxBackwardCore(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx)
    {
        _softmaxBackward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>>(
            SoftmaxIlgpuKernels.SoftmaxBackward, SoftmaxIlgpuKernels.SoftmaxBackwardNoShuffle));
        int quad = RowQuad(cols, y, dy, dx);
        _softmaxBackward(RowConfig(rows, cols, quad), View(y), View(dy), View(dx), cols, quad);
    }

    protected override void LogSoftmaxBackwardCore(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx)
    {
        _logSoftmaxBackward ??= _accelerator.LoadStreamKernel(Twin<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>>(
            SoftmaxIlgpuKernels.LogSoftmaxBackward, SoftmaxIlgpuKernels.LogSoftmaxBackwardNoShuffle));
        int quad = RowQuad(cols, y, dy, dx);
        _logSoftmaxBackward(RowConfig(rows, cols, quad), View(y), View(dy), View(dx), cols, quad);
    }

    /// <summary>
    /// The per-launch 128-bit flag of a row kernel (<see cref="RowQuads"/>): 1 when the rows are
    /// <paramref name="rowLength"/> floats apart, a multiple of 4, and every view the kernel reads or writes as quads
    /// (LayerNorm's γ and β too; null ones are absent) starts on a quad (<see cref="QuadAligned"/>: an arena slice may
    /// not), else 0 and the kernel reads float by float.
    /// </summary>
    private static int RowQuad(int rowLength, params ReadOnlySpan<DeviceBuffer<float>?> views)
    {
        bool quad = true;
        foreach (var view in views)
        {
            quad &= view is null || QuadAligned(view, rowLength);
        }
        return t_lastRowQuad = quad ? 1 : 0;
    }

    /// <summary>
    /// <see cref="RowConfig(int, int)"/> for <paramref name="cols"/> entries per row, or, on the 128-bit path, for the
    /// ⌈cols / 4⌉ quads (and tail floats) a row's threads walk: a 1,024-column row still gets 256 threads, a 128-column
    /// row one warp instead of four.
    /// </summary>
    private KernelConfig RowConfig(int rows, int cols, int quad) => RowConfig(rows, quad != 0 ? (cols + 3) / 4 : cols);

    /// <summary>
    /// One group per row: the smallest power-of-two multiple of the warp that covers the row, at most 256
    /// threads (the shuffle reductions need whole warps; wider rows are strided). Without shuffles the "warp" is
    /// taken as 32 (the tree reduction takes any size), capped by the device and <see cref="RowReduce.MaxTreeGroup"/>.
    /// </summary>
    private KernelConfig RowConfig(int rows, int cols)
    {
        if (!UseWarpShuffles)
        {
            int cap = Math.Min(RowReduce.MaxTreeGroup, _accelerator.MaxNumThreadsPerGroup);
            int size = Math.Min(32, cap);
            while (size < cols && size * 2 <= cap)
            {
                size *= 2;
            }
            return new KernelConfig(rows, size);
        }
        int warp = _accelerator.WarpSize;
        int max = Math.Max(warp, Math.Min(256, _accelerator.MaxNumThreadsPerGroup) / warp * warp);
        int group = warp;
        while (group < cols && group * 2 <= max)
        {
            group *= 2;
        }
        return new KernelConfig(rows, group);
    }
}
