using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    private const int LayerNormChunk = 1 << 14;

    // Row helpers are [AggressiveOptimization] so the first calls do not run tier-0 vector code (see Activation).

    protected override unsafe void LayerNormForwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? gamma,
        DeviceBuffer<float>? beta, int rows, int cols, float epsilon, DeviceBuffer<float> y, DeviceBuffer<float> mean,
        DeviceBuffer<float> rstd)
    {
        float* px = Raw(x).Pointer, py = Raw(y).Pointer, pm = Raw(mean).Pointer, pr = Raw(rstd).Pointer;
        float* pg = gamma is null ? null : Raw(gamma).Pointer, pb = beta is null ? null : Raw(beta).Pointer;
        Pool.For(rows, Math.Max(1, LayerNormChunk / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long o = (long)r * cols;
                // Two passes over a row that sits in L1/L2: the mean, then squared deviations (no cancellation).
                float mu = (float)(LnRowSum(px + o, 0f, cols) / cols);
                float rs = (float)(1 / Math.Sqrt(LnRowSum(px + o, mu, cols, squared: true) / cols + epsilon));
                pm[r] = mu;
                pr[r] = rs;
                LnRowNormalize(px + o, pg, pb, py + o, mu, rs, cols);
            }
        });
    }

    /// <summary>
    /// dx rows are independent; dγ and dβ are column sums over rows, accumulated by each thread into its own zeroed
    /// partial rows and added into dgamma/dbeta after the join (no races, deterministic for a thread count).
    /// </summary>
    protected override unsafe void LayerNormBackwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? gamma,
        DeviceBuffer<float> mean, DeviceBuffer<float> rstd, DeviceBuffer<float> dy, int rows, int cols,
        DeviceBuffer<float> dx, DeviceBuffer<float>? dgamma, DeviceBuffer<float>? dbeta)
    {
        float* px = Raw(x).Pointer, pm = Raw(mean).Pointer, pr = Raw(rstd).Pointer, pdy = Raw(dy).Pointer;
        float* pdx = Raw(dx).Pointer, pg = gamma is null ? null : Raw(gamma).Pointer;
        float* pdg = dgamma is null ? null : Raw(dgamma).Pointer, pdb = dbeta is null ? null : Raw(dbeta).Pointer;
        int chunks = Math.Clamp((int)((long)rows * cols / LayerNormChunk), 1, Math.Min(Pool.Threads, rows));
        bool partials = pdg is not null || pdb is not null;
        // Per chunk: [dγ partial (cols) | dβ partial (cols)], always both so the row loop has no extra branches.
        float* part = partials ? (float*)NativeMemory.AllocZeroed((nuint)chunks * 2 * (nuint)cols, sizeof(float)) : null;
        try
        {
            Pool.For(chunks, 1, (c0, c1) =>
            {
                for (int ch = c0; ch < c1; ch++)
                {
                    float* pgp = part is null ? null : part + (long)ch * 2 * cols;
                    int r1 = (int)((long)rows * (ch + 1) / chunks);
                    for (int r = (int)((long)rows * ch / chunks); r < r1; r++)
                    {
                        long o = (long)r * cols;
                        LnBackwardRow(px + o, pg, pdy + o, pdx + o, pgp, pgp is null ? null : pgp + cols, pm[r], pr[r], cols);
                    }
                }
            });
            for (int ch = 0; part is not null && ch < chunks; ch++)
            {
                if (pdg is not null)
                {
                    Simd.Binary<AddOperator>(pdg, part + (long)ch * 2 * cols, pdg, cols);
                }
                if (pdb is not null)
                {
                    Simd.Binary<AddOperator>(pdb, part + (long)ch * 2 * cols + cols, pdb, cols);
                }
            }
        }
        finally
        {
            NativeMemory.Free(part);
        }
    }

    /// <summary>Σ (x[i] − shift) or Σ (x[i] − shift)² in float vector lanes, lanes combined in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe double LnRowSum(float* x, float shift, int n, bool squared = false)
    {
        int i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var s = Vector512.Create(shift);
            Vector512<float> a0 = default, a1 = default;
            for (; i <= n - 32; i += 32)
            {
                var d0 = Vector512.Load(x + i) - s;
                var d1 = Vector512.Load(x + i + 16) - s;
                a0 = squared ? Vector512.FusedMultiplyAdd(d0, d0, a0) : a0 + d0;
                a1 = squared ? Vector512.FusedMultiplyAdd(d1, d1, a1) : a1 + d1;
            }
            for (; i <= n - 16; i += 16)
            {
                var d0 = Vector512.Load(x + i) - s;
                a0 = squared ? Vector512.FusedMultiplyAdd(d0, d0, a0) : a0 + d0;
            }
            total = LaneSum(a0 + a1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var s = Vector256.Create(shift);
            Vector256<float> a0 = default;
            for (; i <= n - 8; i += 8)
            {
                var d0 = Vector256.Load(x + i) - s;
                a0 = squared ? Vector256.FusedMultiplyAdd(d0, d0, a0) : a0 + d0;
            }
            for (int l = 0; l < 8; l++)
            {
                total += a0.GetElement(l);
            }
        }
        for (; i < n; i++)
        {
            double d = x[i] - shift;
            total += squared ? d * d : d;
        }
        return total;
    }

    private static double LaneSum(Vector512<float> v)
    {
        double t = 0;
        for (int l = 0; l < 16; l++)
        {
            t += v.GetElement(l);
        }
        return t;
    }

    /// <summary>y[i] = (x[i] − μ)·rstd·γ[i] + β[i], with γ = 1 / β = 0 where the pointer is null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void LnRowNormalize(float* x, float* g, float* b, float* y, float mu, float rs, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vmu = Vector512.Create(mu);
            var vrs = Vector512.Create(rs);
            for (; i <= n - 16; i += 16)
            {
                var v = (Vector512.Load(x + i) - vmu) * vrs;
                if (g is not null)
                {
                    v *= Vector512.Load(g + i);
                }
                if (b is not null)
                {
                    v += Vector512.Load(b + i);
                }
                v.Store(y + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vmu = Vector256.Create(mu);
            var vrs = Vector256.Create(rs);
            for (; i <= n - 8; i += 8)
            {
                var v = (Vector256.Load(x + i) - vmu) * vrs;
                if (g is not null)
                {
                    v *= Vector256.Load(g + i);
                }
                if (b is not null)
                {
                    v += Vector256.Load(b + i);
                }
                v.Store(y + i);
            }
        }
        for (; i < n; i++)
        {
            y[i] = (x[i] - mu) * rs * (g is null ? 1f : g[i]) + (b is null ? 0f : b[i]);
        }
    }

    /// <summary>
    /// One row: Σg and Σg·x̂ (g = dy·γ), then dx += rstd·(g − Σg/n − x̂·Σg·x̂/n) and the dγ/dβ partial rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void LnBackwardRow(float* x, float* gamma, float* dy, float* dx, float* pdg, float* pdb,
        float mu, float rs, int n)
    {
        double sg = 0, sgx = 0;
        int i = 0;
        var vmu = Vector512.Create(mu);
        var vrs = Vector512.Create(rs);
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> ag = default, agx = default;
            for (; i <= n - 16; i += 16)
            {
                var xhat = (Vector512.Load(x + i) - vmu) * vrs;
                var g = Vector512.Load(dy + i);
                if (gamma is not null)
                {
                    g *= Vector512.Load(gamma + i);
                }
                ag += g;
                agx = Vector512.FusedMultiplyAdd(g, xhat, agx);
            }
            sg = LaneSum(ag);
            sgx = LaneSum(agx);
        }
        for (; i < n; i++)
        {
            float xhat = (x[i] - mu) * rs, g = dy[i] * (gamma is null ? 1f : gamma[i]);
            sg += g;
            sgx += g * xhat;
        }
        float ma = (float)(sg / n), mb = (float)(sgx / n);
        i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vma = Vector512.Create(ma);
            var vmb = Vector512.Create(mb);
            for (; i <= n - 16; i += 16)
            {
                var xhat = (Vector512.Load(x + i) - vmu) * vrs;
                var d = Vector512.Load(dy + i);
                var g = gamma is null ? d : d * Vector512.Load(gamma + i);
                var t = g - vma - xhat * vmb;
                Vector512.FusedMultiplyAdd(vrs, t, Vector512.Load(dx + i)).Store(dx + i);
                if (pdg is not null)
                {
                    Vector512.FusedMultiplyAdd(d, xhat, Vector512.Load(pdg + i)).Store(pdg + i);
                    (Vector512.Load(pdb + i) + d).Store(pdb + i);
                }
            }
        }
        for (; i < n; i++)
        {
            float xhat = (x[i] - mu) * rs, d = dy[i], g = gamma is null ? d : d * gamma[i];
            dx[i] += rs * (g - ma - xhat * mb);
            if (pdg is not null)
            {
                pdg[i] += d * xhat;
                pdb[i] += d;
            }
        }
    }
}
