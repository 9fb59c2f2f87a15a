using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

/// <summary>
/// Gaussian latent kernels on the CPU. The noising kernels ride the Philox driver of the random family
/// (<see cref="PhiloxFill"/>: 16 counters per AVX-512 vector, chunked over threads by element index, so each
/// element's noise is a function of its index alone) and turn each block into a normal with the very
/// <see cref="Philox.ToNormal"/> that <see cref="Backend.FillNormal"/> uses, hence bit-identical noise. The deterministic
/// kernels are row loops: per-row coefficients folded into two scalars, then one fused SIMD pass per row.
/// </summary>
public sealed partial class CpuBackend
{
    private const int GaussianChunk = 1 << 14;

    protected override unsafe void GaussianNoiseCore(DeviceBuffer<float> y0, DeviceBuffer<float> abar, DeviceBuffer<float> sbar,
        int batch, int dim, ulong seed, ulong stream, long offset, DeviceBuffer<float> eps, DeviceBuffer<float> yt) =>
        PhiloxFill(new GaussianNoiseSink(Raw(y0).Pointer, Raw(abar).Pointer, Raw(sbar).Pointer, Raw(eps).Pointer, Raw(yt).Pointer, dim),
            batch * dim, seed, stream, offset);

    protected override unsafe void GaussianDdpmStepCore(DeviceBuffer<float> yt, DeviceBuffer<float> y0Hat, DeviceBuffer<float> coefYt,
        DeviceBuffer<float> coefY0, DeviceBuffer<float> sigma, int batch, int dim, ulong seed, ulong stream, long offset,
        DeviceBuffer<float> ys) =>
        PhiloxFill(new DdpmSink(Raw(yt).Pointer, Raw(y0Hat).Pointer, Raw(coefYt).Pointer, Raw(coefY0).Pointer, Raw(sigma).Pointer,
            Raw(ys).Pointer, dim), batch * dim, seed, stream, offset);

    protected override unsafe void GaussianDdimStepCore(DeviceBuffer<float> yt, DeviceBuffer<float> y0Hat, DeviceBuffer<float> abarT,
        DeviceBuffer<float> sbarT, DeviceBuffer<float> abarS, DeviceBuffer<float> sbarS, int batch, int dim, DeviceBuffer<float> ys)
    {
        float* pt = Raw(yt).Pointer, p0 = Raw(y0Hat).Pointer, at = Raw(abarT).Pointer, st = Raw(sbarT).Pointer;
        float* aS = Raw(abarS).Pointer, sS = Raw(sbarS).Pointer, py = Raw(ys).Pointer;
        Pool.For(batch, Math.Max(1, GaussianChunk / dim), (start, end) =>
        {
            for (int b = start; b < end; b++)
            {
                var (cYt, cY0) = Gaussian.DdimCoefficients(at[b], st[b], aS[b], sS[b]);
                long row = (long)b * dim;
                GaussianCombine(pt + row, cYt, p0 + row, cY0, py + row, dim, accumulate: false);
            }
        });
    }

    protected override unsafe void GaussianEpsToY0Core(DeviceBuffer<float> yt, DeviceBuffer<float> epsHat, DeviceBuffer<float> abar,
        DeviceBuffer<float> sbar, int batch, int dim, DeviceBuffer<float> y0Hat)
    {
        float* pt = Raw(yt).Pointer, pe = Raw(epsHat).Pointer, pa = Raw(abar).Pointer, ps = Raw(sbar).Pointer, py = Raw(y0Hat).Pointer;
        Pool.For(batch, Math.Max(1, GaussianChunk / dim), (start, end) =>
        {
            for (int b = start; b < end; b++)
            {
                var (cYt, cEps) = Gaussian.EpsToY0Coefficients(pa[b], ps[b]);
                long row = (long)b * dim;
                GaussianCombine(pt + row, cYt, pe + row, cEps, py + row, dim, accumulate: false);
            }
        });
    }

    protected override unsafe void RowScaleCore(DeviceBuffer<float> x, DeviceBuffer<float> scale, int rows, int cols, DeviceBuffer<float> y)
    {
        float* px = Raw(x).Pointer, ps = Raw(scale).Pointer, py = Raw(y).Pointer;
        Pool.For(rows, Math.Max(1, GaussianChunk / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long row = (long)r * cols;
                GaussianScale(px + row, ps[r], py + row, cols, accumulate: false);
            }
        });
    }

    protected override unsafe void RowScaleBackwardCore(DeviceBuffer<float> dy, DeviceBuffer<float> x, DeviceBuffer<float> scale,
        int rows, int cols, DeviceBuffer<float>? dx, DeviceBuffer<float>? dscale)
    {
        float* pdy = Raw(dy).Pointer, px = Raw(x).Pointer, ps = Raw(scale).Pointer;
        float* pdx = dx is null ? null : Raw(dx).Pointer, pds = dscale is null ? null : Raw(dscale).Pointer;
        Pool.For(rows, Math.Max(1, GaussianChunk / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long row = (long)r * cols;
                if (pdx != null)
                {
                    GaussianScale(pdy + row, ps[r], pdx + row, cols, accumulate: true);
                }
                if (pds != null)
                {
                    pds[r] += Simd.Dot(pdy + row, px + row, cols);
                }
            }
        });
    }

    protected override unsafe void RowL2NormalizeCore(DeviceBuffer<float> x, int rows, int cols, float epsilon, DeviceBuffer<float> y,
        DeviceBuffer<float> norms)
    {
        float* px = Raw(x).Pointer, py = Raw(y).Pointer, pn = Raw(norms).Pointer;
        Pool.For(rows, Math.Max(1, GaussianChunk / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long row = (long)r * cols;
                float norm = MathF.Sqrt(Simd.Dot(px + row, px + row, cols));
                float stored = Gaussian.StoredNorm(norm, epsilon);
                pn[r] = stored;
                GaussianScale(px + row, 1f / MathF.Abs(stored), py + row, cols, accumulate: false);
            }
        });
    }

    protected override unsafe void RowL2NormalizeBackwardCore(DeviceBuffer<float> dy, DeviceBuffer<float> y, DeviceBuffer<float> norms,
        int rows, int cols, DeviceBuffer<float> dx)
    {
        float* pdy = Raw(dy).Pointer, py = Raw(y).Pointer, pn = Raw(norms).Pointer, pdx = Raw(dx).Pointer;
        Pool.For(rows, Math.Max(1, GaussianChunk / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long row = (long)r * cols;
                float stored = pn[r], inv = 1f / MathF.Abs(stored);
                float dot = stored > 0f ? Simd.Dot(py + row, pdy + row, cols) : 0f;
                // dx += dy/d − y·(⟨y, dy⟩/d)
                GaussianCombine(pdy + row, inv, py + row, -dot * inv, pdx + row, cols, accumulate: true);
            }
        });
    }

    /// <summary>dst = a·x (or dst += a·x); dst may alias x when not accumulating.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void GaussianScale(float* x, float a, float* dst, int n, bool accumulate)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(a);
            for (; i <= n - 16; i += 16)
            {
                var v = Vector512.Load(x + i) * va;
                (accumulate ? v + Vector512.Load(dst + i) : v).Store(dst + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a);
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.Load(x + i) * va;
                (accumulate ? v + Vector256.Load(dst + i) : v).Store(dst + i);
            }
        }
        for (; i < n; i++)
        {
            float v = x[i] * a;
            dst[i] = accumulate ? dst[i] + v : v;
        }
    }

    /// <summary>dst = a·x + b·w (or dst += a·x + b·w); dst may alias x or w when not accumulating.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void GaussianCombine(float* x, float a, float* w, float b, float* dst, int n, bool accumulate)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(a);
            var vb = Vector512.Create(b);
            for (; i <= n - 16; i += 16)
            {
                var v = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), va, Vector512.Load(w + i) * vb);
                (accumulate ? v + Vector512.Load(dst + i) : v).Store(dst + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a);
            var vb = Vector256.Create(b);
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), va, Vector256.Load(w + i) * vb);
                (accumulate ? v + Vector256.Load(dst + i) : v).Store(dst + i);
            }
        }
        for (; i < n; i++)
        {
            float v = MathF.FusedMultiplyAdd(x[i], a, w[i] * b);
            dst[i] = accumulate ? dst[i] + v : v;
        }
    }

    /// <summary>eps = Normal(block); yt = abar[b]·y0 + sbar[b]·eps. Box–Muller in scalar System.Math, exactly as <see cref="NormalSink"/>.</summary>
    private readonly unsafe struct GaussianNoiseSink(float* y0, float* abar, float* sbar, float* eps, float* yt, int dim) : IPhiloxSink
    {
        public void Vector(int i, Vector512<uint> x0, Vector512<uint> x1, Vector512<uint> x2, Vector512<uint> x3)
        {
            int b = i / dim, rowEnd = (b + 1) * dim;
            for (int j = 0; j < 16; j++)
            {
                int e = i + j;
                if (e == rowEnd)
                {
                    b++;
                    rowEnd += dim;
                }
                float z = Philox.ToNormal(x0.GetElement(j), x1.GetElement(j), x2.GetElement(j), x3.GetElement(j));
                eps[e] = z;
                yt[e] = Gaussian.Noise(y0[e], abar[b], sbar[b], z);
            }
        }

        public void Scalar(int i, Philox.Block block)
        {
            int b = i / dim;
            float z = Philox.ToNormal(block.X0, block.X1, block.X2, block.X3);
            eps[i] = z;
            yt[i] = Gaussian.Noise(y0[i], abar[b], sbar[b], z);
        }
    }

    /// <summary>ys = coefYt[b]·yt + coefY0[b]·y0Hat + sigma[b]·z with z = Normal(block).</summary>
    private readonly unsafe struct DdpmSink(float* yt, float* y0Hat, float* coefYt, float* coefY0, float* sigma, float* ys, int dim)
        : IPhiloxSink
    {
        public void Vector(int i, Vector512<uint> x0, Vector512<uint> x1, Vector512<uint> x2, Vector512<uint> x3)
        {
            int b = i / dim, rowEnd = (b + 1) * dim;
            for (int j = 0; j < 16; j++)
            {
                int e = i + j;
                if (e == rowEnd)
                {
                    b++;
                    rowEnd += dim;
                }
                float z = Philox.ToNormal(x0.GetElement(j), x1.GetElement(j), x2.GetElement(j), x3.GetElement(j));
                ys[e] = Gaussian.Ddpm(yt[e], y0Hat[e], coefYt[b], coefY0[b], sigma[b], z);
            }
        }

        public void Scalar(int i, Philox.Block block)
        {
            int b = i / dim;
            float z = Philox.ToNormal(block.X0, block.X1, block.X2, block.X3);
            ys[i] = Gaussian.Ddpm(yt[i], y0Hat[i], coefYt[b], coefY0[b], sigma[b], z);
        }
    }
}
