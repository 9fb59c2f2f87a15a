using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>? _matmul;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>? _matmulMma;

    protected override void MatmulCore(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c,
        MatmulShape shape)
    {
        if (UseMmaMatmul)
        {
            MatmulMma(a, b, c, shape);
            return;
        }
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

    /// <summary>The TF32 tensor-core kernel (<see cref="MatmulMmaIlgpuKernels.MatmulMma"/>): 128 × 128 tiles.</summary>
    private void MatmulMma(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c, MatmulShape shape)
    {
        int tilesM = (shape.M + MatmulMmaIlgpuKernels.TileM - 1) / MatmulMmaIlgpuKernels.TileM;
        int tilesN = (shape.N + MatmulMmaIlgpuKernels.TileN - 1) / MatmulMmaIlgpuKernels.TileN;
        long groups = (long)tilesM * tilesN * shape.Batch;
        if (groups > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"Matmul: {groups} tiles of {MatmulMmaIlgpuKernels.TileM}x{MatmulMmaIlgpuKernels.TileN} exceed one launch; split the batch.");
        }
        _matmulMma ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>(
            MatmulMmaIlgpuKernels.MatmulMma);
        _matmulMma(new KernelConfig((int)groups, MatmulMmaIlgpuKernels.GroupSize), View(a), View(b), View(c),
            new MatmulParams(shape, tilesM, tilesN));
    }
}
