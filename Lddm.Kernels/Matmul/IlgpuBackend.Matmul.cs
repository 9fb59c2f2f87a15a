using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>? _matmul;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>? _matmulMma;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>? _matmulMmaBf16;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>? _matmulMmaAsync;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams, ArrayView<float>,
        ArrayView<float>, ActivationShape>? _matmulLinear, _matmulMmaLinear, _matmulMmaBf16Linear, _matmulMmaAsyncLinear;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams, ArrayView<float>, int,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _matmulGated, _matmulMmaGated, _matmulMmaBf16Gated,
        _matmulMmaAsyncGated;

    /// <summary>
    /// One launch: the GEMM with the bias and the gated residual in the store (<see cref="GatedGemmStore"/>) instead of
    /// a GEMM and a gated-residual pass: the FP32 tiles (<see cref="MatmulIlgpuKernels.MatmulGated"/>), or with
    /// <see cref="UseMmaMatmul"/> the tensor-core kernel in use (TF32, its cp.async form, or BF16).
    /// </summary>
    protected override void LinearGatedResidualForwardCore(DeviceBuffer<float> x, DeviceBuffer<float> weight,
        DeviceBuffer<float>? bias, DeviceBuffer<float> residual, DeviceBuffer<float> gate, int batch, int tokens,
        int inFeatures, int outFeatures, DeviceBuffer<float> u, DeviceBuffer<float> y)
    {
        int rows = batch * tokens;
        var shape = new MatmulShape(1, rows, outFeatures, inFeatures, false, false, 1f, 0f, false);
        // An absent bias is a placeholder view the store never reads (hasBias = 0).
        var biasView = View(bias ?? u);
        int hasBias = bias is null ? 0 : 1;
        if (UseMmaMatmul)
        {
            int tilesM = (rows + MatmulMmaIlgpuKernels.TileM - 1) / MatmulMmaIlgpuKernels.TileM;
            int tilesN = (outFeatures + MatmulMmaIlgpuKernels.TileN - 1) / MatmulMmaIlgpuKernels.TileN;
            var p = MmaParams(x, weight, u, shape, tilesM, tilesN, y);
            var gated = p.AAddress != 0
                ? _matmulMmaAsyncGated ??= LoadGated(MatmulMmaAsyncIlgpuKernels.MatmulMmaAsyncGated)
                : MmaBf16
                ? _matmulMmaBf16Gated ??= LoadGated(MatmulMmaBf16IlgpuKernels.MatmulMmaBf16Gated)
                : _matmulMmaGated ??= LoadGated(MatmulMmaIlgpuKernels.MatmulMmaGated);
            gated(new KernelConfig(checked(tilesM * tilesN), MatmulMmaIlgpuKernels.GroupSize), View(x), View(weight), View(u),
                p, biasView, hasBias, View(residual), View(gate), View(y), tokens);
            return;
        }
        const int tile = MatmulIlgpuKernels.Tile;
        int tm = (rows + tile - 1) / tile, tn = (outFeatures + tile - 1) / tile;
        _matmulGated ??= LoadGated(MatmulIlgpuKernels.MatmulGated);
        _matmulGated(new KernelConfig(checked(tm * tn), MatmulIlgpuKernels.GroupSize), View(x), View(weight), View(u),
            Params(x, weight, u, shape, tm, tn, y), biasView, hasBias, View(residual), View(gate), View(y), tokens);
    }

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams, ArrayView<float>, int,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, int> LoadGated(
        Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams, ArrayView<float>, int, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int> kernel) =>
        _accelerator.LoadStreamKernel(kernel);

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
            Params(a, b, c, shape, tilesM, tilesN));
    }

    /// <summary>
    /// The launch parameters of C = op(A)·op(B), with each operand's quad flag from its stored row length; the output
    /// flag holds for C and, for a linear layer, also for its activated output <paramref name="y"/>.
    /// </summary>
    private static MatmulParams Params(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c, MatmulShape shape,
        int tilesM, int tilesN, DeviceBuffer<float>? y = null) =>
        new(shape, tilesM, tilesN, QuadAligned(a, shape.TransposeA ? shape.M : shape.K),
            QuadAligned(b, shape.TransposeB ? shape.K : shape.N), QuadAligned(c, shape.N) && (y is null || QuadAligned(y, shape.N)));

    /// <summary>
    /// <see cref="Params"/> for the tensor-core kernels, with A's and B's device addresses for the TF32 kernel's
    /// <c>cp.async</c> tile copies (<see cref="MatmulParams.AAddress"/>, <see cref="MatmulMmaAsyncIlgpuKernels"/>) on
    /// CUDA when neither operand is transposed and both are stored as aligned quads (every 16-byte copy then lies
    /// inside one row) and <c>LDDM_CUDA_MMA_ASYNC=1</c>; else none: the register-staged kernel (always on the
    /// simulator and OpenCL, and for BF16).
    /// </summary>
    private MatmulParams MmaParams(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c, MatmulShape shape,
        int tilesM, int tilesN, DeviceBuffer<float>? y = null)
    {
        var p = Params(a, b, c, shape, tilesM, tilesN, y);
        bool async = _accelerator.AcceleratorType == AcceleratorType.Cuda && !MmaBf16 && UseAsyncCopy && !shape.TransposeA &&
            !shape.TransposeB && p.QuadA != 0 && p.QuadB != 0;
        return async
            ? new MatmulParams(shape, tilesM, tilesN, true, true, p.QuadC != 0,
                (ulong)View(a).LoadEffectiveAddressAsPtr().ToInt64(), (ulong)View(b).LoadEffectiveAddressAsPtr().ToInt64())
            : p;
    }

    /// <summary>
    /// Whether the GEMM kernels may read <paramref name="buffer"/> as 16-byte quads (<see cref="MatmulParams.QuadA"/>):
    /// its stored rows are <paramref name="rowLength"/> floats, a multiple of 4, and the buffer starts at a multiple of
    /// 4 floats into its allocation (a slice of the arena may not), whose start is aligned far beyond 16 bytes (CUDA:
    /// 256; OpenCL: CL_DEVICE_MEM_BASE_ADDR_ALIGN, at least 128; the simulator reads any address).
    /// </summary>
    private static bool QuadAligned(DeviceBuffer<float> buffer, int rowLength) =>
        rowLength % 4 == 0 && ((IlgpuBuffer<float>)buffer).Offset % 4 == 0;

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
        var p = MmaParams(a, b, c, shape, tilesM, tilesN);
        var kernel = p.AAddress != 0
            ? _matmulMmaAsync ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>(
                MatmulMmaAsyncIlgpuKernels.MatmulMmaAsync)
            : MmaBf16
            ? _matmulMmaBf16 ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>(
                MatmulMmaBf16IlgpuKernels.MatmulMmaBf16)
            : _matmulMma ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams>(
                MatmulMmaIlgpuKernels.MatmulMma);
        kernel(new KernelConfig((int)groups, MatmulMmaIlgpuKernels.GroupSize), View(a), View(b), View(c), p);
    }

    /// <summary>
    /// One launch: the GEMM (FP32 tiles, or the tensor-core kernel when <see cref="UseMmaMatmul"/>) with the bias and
    /// activation applied as each element is stored (<see cref="LinearGemmStore"/>), instead of a GEMM and a
    /// bias-activation pass.
    /// </summary>
    protected override void LinearForwardCore(DeviceBuffer<float> x, DeviceBuffer<float> weight, DeviceBuffer<float>? bias,
        int rows, int inFeatures, int outFeatures, Activation act, DeviceBuffer<float>? pre, DeviceBuffer<float> y)
    {
        var shape = new MatmulShape(1, rows, outFeatures, inFeatures, false, false, 1f, 0f, false);
        var product = act == Activation.Identity ? y : pre!;
        var epilogue = new ActivationShape(rows, outFeatures, (int)act, bias is null ? 0 : 1);
        // Absent views are placeholders the store never reads (HasBias = 0) or writes (y with the identity).
        var biasView = View(bias ?? y);
        if (UseMmaMatmul)
        {
            int tilesM = (rows + MatmulMmaIlgpuKernels.TileM - 1) / MatmulMmaIlgpuKernels.TileM;
            int tilesN = (outFeatures + MatmulMmaIlgpuKernels.TileN - 1) / MatmulMmaIlgpuKernels.TileN;
            var p = MmaParams(x, weight, product, shape, tilesM, tilesN, y);
            var linear = p.AAddress != 0
                ? _matmulMmaAsyncLinear ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    MatmulParams, ArrayView<float>, ArrayView<float>, ActivationShape>(MatmulMmaAsyncIlgpuKernels.MatmulMmaAsyncLinear)
                : MmaBf16
                ? _matmulMmaBf16Linear ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    MatmulParams, ArrayView<float>, ArrayView<float>, ActivationShape>(MatmulMmaBf16IlgpuKernels.MatmulMmaBf16Linear)
                : _matmulMmaLinear ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    MatmulParams, ArrayView<float>, ArrayView<float>, ActivationShape>(MatmulMmaIlgpuKernels.MatmulMmaLinear);
            linear(new KernelConfig(checked(tilesM * tilesN), MatmulMmaIlgpuKernels.GroupSize), View(x), View(weight),
                View(product), p, biasView, View(y), epilogue);
            return;
        }
        const int tile = MatmulIlgpuKernels.Tile;
        int tm = (rows + tile - 1) / tile, tn = (outFeatures + tile - 1) / tile;
        _matmulLinear ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatmulParams,
            ArrayView<float>, ArrayView<float>, ActivationShape>(MatmulIlgpuKernels.MatmulLinear);
        _matmulLinear(new KernelConfig(checked(tm * tn), MatmulIlgpuKernels.GroupSize), View(x), View(weight), View(product),
            Params(x, weight, product, shape, tm, tn, y), biasView, View(y), epilogue);
    }
}
