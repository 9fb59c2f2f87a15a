using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>? _matmul;

    protected override void MatmulCore(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c,
        MatmulShape shape)
    {
        const int tile = MatmulIlgpuKernels.Tile;
        int tilesM = (shape.M + tile - 1) / tile, tilesN = (shape.N + tile - 1) / tile;
        long groups = (long)tilesM * tilesN * shape.Batch;
        if (groups > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"Matmul: {groups} tiles of {tile}x{tile} exceed one launch; split the batch.");
        }
        _matmul ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>(
            MatmulIlgpuKernels.Matmul);
        _matmul(new KernelConfig((int)groups, MatmulIlgpuKernels.GroupSize), View(a), View(b), View(c),
            new MatmulParams(shape, tilesM, tilesN));
    }
}
