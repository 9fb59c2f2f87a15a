using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    protected override unsafe void SubsCrossEntropyForwardCore(DeviceBuffer<float> logits, DeviceBuffer<int> targets,
        DeviceBuffer<int> noisy, DeviceBuffer<float> weights, int rows, int vocab, DeviceBuffer<float> loss)
    {
        float* pl = Raw(logits).Pointer, pw = Raw(weights).Pointer, ploss = Raw(loss).Pointer;
        int* pt = Raw(targets).Pointer, pz = Raw(noisy).Pointer;
        int k = vocab - 1;
        Pool.For(rows, Math.Max(1, RowChunk / vocab), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                if (pz[r] != k)
                {
                    ploss[r] = 0f; // carry-over: already unmasked, no loss
                    continue;
                }
                float* l = pl + (long)r * vocab;
                float m = RowMax(l, k);
                // All real logits −∞: uniform over the K real tokens (log p = −log K).
                float logp = float.IsNegativeInfinity(m) ? -MathF.Log(k) : l[pt[r]] - m - MathF.Log(RowSumExp(l, k, m, null));
                ploss[r] = -pw[r] * logp;
            }
        });
    }

    protected override unsafe void SubsCrossEntropyBackwardCore(DeviceBuffer<float> logits, DeviceBuffer<int> targets,
        DeviceBuffer<int> noisy, DeviceBuffer<float> weights, DeviceBuffer<float> dloss, int rows, int vocab,
        DeviceBuffer<float> dlogits)
    {
        float* pl = Raw(logits).Pointer, pw = Raw(weights).Pointer, pdl = Raw(dloss).Pointer, pg = Raw(dlogits).Pointer;
        int* pt = Raw(targets).Pointer, pz = Raw(noisy).Pointer;
        int k = vocab - 1;
        Pool.For(rows, Math.Max(1, RowChunk / vocab), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                if (pz[r] != k)
                {
                    continue; // carry-over rows contribute nothing
                }
                long o = (long)r * vocab;
                float g = pdl[r] * pw[r];
                float m = RowMax(pl + o, k);
                if (float.IsNegativeInfinity(m))
                {
                    for (int j = 0; j < k; j++)
                    {
                        pg[o + j] += g / k;
                    }
                }
                else
                {
                    float s = RowSumExp(pl + o, k, m, null);
                    RowAddScaledExp(pl + o, m, g / s, pg + o, k);
                }
                pg[o + pt[r]] -= g;
            }
        });
    }

    /// <summary>dst += c·exp(x − shift).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RowAddScaledExp(float* x, float shift, float c, float* dst, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vshift = Vector512.Create(shift);
            var vc = Vector512.Create(c);
            for (; i <= n - 16; i += 16)
            {
                var e = SimdMath.Exp(Vector512.Load(x + i) - vshift);
                Vector512.FusedMultiplyAdd(e, vc, Vector512.Load(dst + i)).Store(dst + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vshift = Vector256.Create(shift);
            var vc = Vector256.Create(c);
            for (; i <= n - 8; i += 8)
            {
                var e = SimdMath.Exp(Vector256.Load(x + i) - vshift);
                Vector256.FusedMultiplyAdd(e, vc, Vector256.Load(dst + i)).Store(dst + i);
            }
        }
        for (; i < n; i++)
        {
            dst[i] = MathF.FusedMultiplyAdd(MathF.Exp(x[i] - shift), c, dst[i]);
        }
    }
}
