using ILGPU;
using ILGPU.Algorithms;

namespace Lddm.Kernels.Ilgpu;

/// <summary>
/// (dim) of a (batch, dim) latent, or (cols) of a (rows, cols) matrix: element i belongs to row i / Width.
/// Public only because ILGPU's CPU accelerator must see kernel argument types.
/// </summary>
public readonly struct GaussianShape(int width)
{
    public readonly int Width = width;
}

/// <summary>
/// Gaussian latent kernels: one thread per element for the noising and step kernels (each reads its row's
/// coefficients; the noise calls the same <see cref="Philox.Normal"/> as the FillNormal kernel on counter
/// offset + i), one thread per row for the row reductions (latent rows are short: d ≤ a few hundred).
/// </summary>
internal static class GaussianIlgpuKernels
{
    /// <summary>eps = Normal(seed, stream, offset + i); yt = abar[b]·y0 + sbar[b]·eps.</summary>
    [GpuKernel(Hot = true)]
    public static void Noise(Index1D i, ArrayView<float> y0, ArrayView<float> abar, ArrayView<float> sbar,
        ArrayView<float> eps, ArrayView<float> yt, GaussianShape s, ulong seed, ulong stream, long offset)
    {
        int b = i / s.Width;
        float z = Philox.Normal(seed, stream, offset + i);
        eps[i] = z;
        yt[i] = Gaussian.Noise(y0[i], abar[b], sbar[b], z);
    }

    /// <summary>ys = coefYt[b]·yt + coefY0[b]·y0Hat + sigma[b]·Normal(seed, stream, offset + i).</summary>
    [GpuKernel(Hot = true)]
    public static void Ddpm(Index1D i, ArrayView<float> yt, ArrayView<float> y0Hat, ArrayView<float> coefYt,
        ArrayView<float> coefY0, ArrayView<float> sigma, ArrayView<float> ys, GaussianShape s, ulong seed, ulong stream,
        long offset)
    {
        int b = i / s.Width;
        float z = Philox.Normal(seed, stream, offset + i);
        ys[i] = Gaussian.Ddpm(yt[i], y0Hat[i], coefYt[b], coefY0[b], sigma[b], z);
    }

    /// <summary>ys = cYt·yt + cY0·y0Hat with the DDIM coefficients of row b.</summary>
    [GpuKernel(Hot = true)]
    public static void Ddim(Index1D i, ArrayView<float> yt, ArrayView<float> y0Hat, ArrayView<float> abarT,
        ArrayView<float> sbarT, ArrayView<float> abarS, ArrayView<float> sbarS, ArrayView<float> ys, GaussianShape s)
    {
        int b = i / s.Width;
        var (cYt, cY0) = Gaussian.DdimCoefficients(abarT[b], sbarT[b], abarS[b], sbarS[b]);
        ys[i] = cYt * yt[i] + cY0 * y0Hat[i];
    }

    /// <summary>y0Hat = (yt − sbar[b]·epsHat)/abar[b], as cYt·yt + cEps·epsHat.</summary>
    [GpuKernel(Hot = true)]
    public static void EpsToY0(Index1D i, ArrayView<float> yt, ArrayView<float> epsHat, ArrayView<float> abar,
        ArrayView<float> sbar, ArrayView<float> y0Hat, GaussianShape s)
    {
        int b = i / s.Width;
        var (cYt, cEps) = Gaussian.EpsToY0Coefficients(abar[b], sbar[b]);
        y0Hat[i] = cYt * yt[i] + cEps * epsHat[i];
    }

    /// <summary>y = scale[r]·x.</summary>
    [GpuKernel]
    public static void RowScale(Index1D i, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> y, GaussianShape s) =>
        y[i] = scale[i / s.Width] * x[i];

    /// <summary>dx += scale[r]·dy.</summary>
    [GpuKernel]
    public static void RowScaleBackwardX(Index1D i, ArrayView<float> dy, ArrayView<float> scale, ArrayView<float> dx,
        GaussianShape s) =>
        dx[i] += scale[i / s.Width] * dy[i];

    /// <summary>dscale[r] += Σ_c dy[r,c]·x[r,c]; one thread per row.</summary>
    [GpuKernel]
    public static void RowScaleBackwardScale(Index1D r, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> dscale,
        GaussianShape s)
    {
        int width = s.Width;
        int start = r * width;
        float acc = 0f;
        for (int c = 0; c < width; c++)
        {
            acc += dy[start + c] * x[start + c];
        }
        dscale[r] += acc;
    }

    /// <summary>norms[r] = StoredNorm(‖x[r]‖, ε); y[r] = x[r]/|norms[r]|; one thread per row.</summary>
    [GpuKernel]
    public static void RowL2Normalize(Index1D r, ArrayView<float> x, ArrayView<float> y, ArrayView<float> norms,
        GaussianShape s, float epsilon)
    {
        int width = s.Width;
        int start = r * width;
        float acc = 0f;
        for (int c = 0; c < width; c++)
        {
            float v = x[start + c];
            acc += v * v;
        }
        float stored = Gaussian.StoredNorm(XMath.Sqrt(acc), epsilon);
        norms[r] = stored;
        float inv = 1f / (stored < 0f ? -stored : stored);
        for (int c = 0; c < width; c++)
        {
            y[start + c] = x[start + c] * inv;
        }
    }

    /// <summary>dx[r] += (dy − y·⟨y, dy⟩)/d (unclamped) or dy/d (clamped, norms[r] &lt; 0); one thread per row.</summary>
    [GpuKernel]
    public static void RowL2NormalizeBackward(Index1D r, ArrayView<float> dy, ArrayView<float> y, ArrayView<float> norms,
        ArrayView<float> dx, GaussianShape s)
    {
        int width = s.Width;
        int start = r * width;
        float stored = norms[r];
        float inv = 1f / (stored < 0f ? -stored : stored);
        float dot = 0f;
        if (stored > 0f)
        {
            for (int c = 0; c < width; c++)
            {
                dot += y[start + c] * dy[start + c];
            }
        }
        float k = -dot * inv;
        for (int c = 0; c < width; c++)
        {
            dx[start + c] += dy[start + c] * inv + y[start + c] * k;
        }
    }
}
