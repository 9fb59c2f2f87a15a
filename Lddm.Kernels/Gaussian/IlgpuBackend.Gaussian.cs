using ILGPU;
using ILGPU.Runtime;

namespace Lddm.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        GaussianShape, ulong, ulong, long>? _gaussianNoise;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, GaussianShape, ulong, ulong, long>? _gaussianDdpm;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, GaussianShape>? _gaussianDdim;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        GaussianShape>? _gaussianEpsToY0;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GaussianShape>? _rowScale, _rowScaleBackwardX,
        _rowScaleBackwardScale;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GaussianShape, float>? _rowL2Normalize;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GaussianShape>?
        _rowL2NormalizeBackward;

    protected override void GaussianNoiseCore(DeviceBuffer<float> y0, DeviceBuffer<float> abar, DeviceBuffer<float> sbar,
        int batch, int dim, ulong seed, ulong stream, long offset, DeviceBuffer<float> eps, DeviceBuffer<float> yt)
    {
        _gaussianNoise ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, GaussianShape, ulong, ulong, long>(GaussianIlgpuKernels.Noise);
        _gaussianNoise(y0.Length, View(y0), View(abar), View(sbar), View(eps), View(yt), new GaussianShape(dim), seed, stream, offset);
    }

    protected override void GaussianDdpmStepCore(DeviceBuffer<float> yt, DeviceBuffer<float> y0Hat, DeviceBuffer<float> coefYt,
        DeviceBuffer<float> coefY0, DeviceBuffer<float> sigma, int batch, int dim, ulong seed, ulong stream, long offset,
        DeviceBuffer<float> ys)
    {
        _gaussianDdpm ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, GaussianShape, ulong, ulong, long>(GaussianIlgpuKernels.Ddpm);
        _gaussianDdpm(yt.Length, View(yt), View(y0Hat), View(coefYt), View(coefY0), View(sigma), View(ys), new GaussianShape(dim),
            seed, stream, offset);
    }

    protected override void GaussianDdimStepCore(DeviceBuffer<float> yt, DeviceBuffer<float> y0Hat, DeviceBuffer<float> abarT,
        DeviceBuffer<float> sbarT, DeviceBuffer<float> abarS, DeviceBuffer<float> sbarS, int batch, int dim, DeviceBuffer<float> ys)
    {
        _gaussianDdim ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GaussianShape>(GaussianIlgpuKernels.Ddim);
        _gaussianDdim(yt.Length, View(yt), View(y0Hat), View(abarT), View(sbarT), View(abarS), View(sbarS), View(ys),
            new GaussianShape(dim));
    }

    protected override void GaussianEpsToY0Core(DeviceBuffer<float> yt, DeviceBuffer<float> epsHat, DeviceBuffer<float> abar,
        DeviceBuffer<float> sbar, int batch, int dim, DeviceBuffer<float> y0Hat)
    {
        _gaussianEpsToY0 ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, GaussianShape>(GaussianIlgpuKernels.EpsToY0);
        _gaussianEpsToY0(yt.Length, View(yt), View(epsHat), View(abar), View(sbar), View(y0Hat), new GaussianShape(dim));
    }

    protected override void RowScaleCore(DeviceBuffer<float> x, DeviceBuffer<float> scale, int rows, int cols, DeviceBuffer<float> y)
    {
        _rowScale ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            GaussianShape>(GaussianIlgpuKernels.RowScale);
        _rowScale(x.Length, View(x), View(scale), View(y), new GaussianShape(cols));
    }

    protected override void RowScaleBackwardCore(DeviceBuffer<float> dy, DeviceBuffer<float> x, DeviceBuffer<float> scale,
        int rows, int cols, DeviceBuffer<float>? dx, DeviceBuffer<float>? dscale)
    {
        var s = new GaussianShape(cols);
        if (dx is not null)
        {
            _rowScaleBackwardX ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, GaussianShape>(GaussianIlgpuKernels.RowScaleBackwardX);
            _rowScaleBackwardX(dy.Length, View(dy), View(scale), View(dx), s);
        }
        if (dscale is not null)
        {
            _rowScaleBackwardScale ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, GaussianShape>(GaussianIlgpuKernels.RowScaleBackwardScale);
            _rowScaleBackwardScale(rows, View(dy), View(x), View(dscale), s);
        }
    }

    protected override void RowL2NormalizeCore(DeviceBuffer<float> x, int rows, int cols, float epsilon, DeviceBuffer<float> y,
        DeviceBuffer<float> norms)
    {
        _rowL2Normalize ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            GaussianShape, float>(GaussianIlgpuKernels.RowL2Normalize);
        _rowL2Normalize(rows, View(x), View(y), View(norms), new GaussianShape(cols), epsilon);
    }

    protected override void RowL2NormalizeBackwardCore(DeviceBuffer<float> dy, DeviceBuffer<float> y, DeviceBuffer<float> norms,
        int rows, int cols, DeviceBuffer<float> dx)
    {
        _rowL2NormalizeBackward ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, GaussianShape>(GaussianIlgpuKernels.RowL2NormalizeBackward);
        _rowL2NormalizeBackward(rows, View(dy), View(y), View(norms), View(dx), new GaussianShape(cols));
    }
}
