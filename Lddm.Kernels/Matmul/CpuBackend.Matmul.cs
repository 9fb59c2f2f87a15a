using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Below this many multiply-adds per matrix, packing costs more than it saves.</summary>
    private const long MatmulSmall = 16 * 16 * 16;

    /// <summary>Below this many multiply-adds in all, waking a second thread costs more than it saves.</summary>
    private const long MatmulSerial = 48L * 48 * 48;

    protected override unsafe void MatmulCore(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c,
        MatmulShape s)
    {
        float* pa = Raw(a).Pointer, pb = Raw(b).Pointer, pc = Raw(c).Pointer;
        long aStride = (long)s.M * s.K, bStride = s.BroadcastB ? 0 : (long)s.K * s.N, cStride = (long)s.M * s.N;
        long perMatrix = (long)s.M * s.N * s.K;
        if (perMatrix < MatmulSmall)
        {
            for (int p = 0; p < s.Batch; p++)
            {
                CpuGemm.Small(pa + p * aStride, pb + p * bStride, pc + p * cStride, s);
            }
            return;
        }
        int threads = Pool.Threads;
        bool evenBatches = s.Batch % threads == 0 || s.Batch >= 4 * threads || perMatrix < MatmulSerial;
        if (perMatrix * s.Batch < MatmulSerial || (s.Batch >= threads && evenBatches))
        {
            // Enough matrices to keep every core evenly busy: one whole GEMM per work item, no sharing.
            Pool.For(s.Batch, perMatrix * s.Batch < MatmulSerial ? s.Batch : 1, (start, end) =>
            {
                for (int p = start; p < end; p++)
                {
                    CpuGemm.Run(pa + p * aStride, pb + p * bStride, pc + p * cStride, s, pool: null);
                }
            });
            return;
        }
        for (int p = 0; p < s.Batch; p++)
        {
            CpuGemm.Run(pa + p * aStride, pb + p * bStride, pc + p * cStride, s, pool: Pool);
        }
    }

    /// <summary>
    /// The GEMM with the bias and activation fused into its tile loop (<see cref="CpuGemm.Epilogue"/>): each tile of
    /// x·W is finished (y = act(tile + bias)) right after its last K block is stored, so no second pass reads the
    /// product back from memory. Same float operations as the composition, so the same bits.
    /// </summary>
    protected override unsafe void LinearGatedResidualForwardCore(DeviceBuffer<float> x, DeviceBuffer<float> weight,
        DeviceBuffer<float>? bias, DeviceBuffer<float> residual, DeviceBuffer<float> gate, int batch, int tokens,
        int inFeatures, int outFeatures, DeviceBuffer<float> u, DeviceBuffer<float> y)
    {
        int rows = batch * tokens;
        long macs = (long)rows * inFeatures * outFeatures;
        if (macs < MatmulSmall || !Vector512.IsHardwareAccelerated)
        {
            base.LinearGatedResidualForwardCore(x, weight, bias, residual, gate, batch, tokens, inFeatures, outFeatures, u, y);
            return;
        }
        // The bias into u itself (Y = C), then y = residual + gate·u from the tile while it is in L1.
        float* pu = Raw(u).Pointer;
        var epilogue = new CpuGemm.Epilogue(bias is null ? null : &ActForwardRow<IdentityOp>, bias is null ? null : Raw(bias).Pointer, pu)
        {
            Residual = Raw(residual).Pointer,
            Gate = Raw(gate).Pointer,
            Out = Raw(y).Pointer,
            Tokens = tokens,
        };
        var shape = new MatmulShape(1, rows, outFeatures, inFeatures, false, false, 1f, 0f, false);
        CpuGemm.Run(Raw(x).Pointer, Raw(weight).Pointer, pu, shape, macs < MatmulSerial ? null : Pool, epilogue);
    }

    protected override unsafe void LinearForwardCore(DeviceBuffer<float> x, DeviceBuffer<float> weight,
        DeviceBuffer<float>? bias, int rows, int inFeatures, int outFeatures, Activation act, DeviceBuffer<float>? pre,
        DeviceBuffer<float> y)
    {
        long macs = (long)rows * inFeatures * outFeatures;
        if (macs < MatmulSmall || !Vector512.IsHardwareAccelerated || (bias is null && act == Activation.Identity))
        {
            base.LinearForwardCore(x, weight, bias, rows, inFeatures, outFeatures, act, pre, y);
            return;
        }
        delegate*<float*, float*, float*, int, void> row = act switch
        {
            Activation.Identity => &ActForwardRow<IdentityOp>,
            Activation.GeluTanh => &ActForwardRow<GeluTanhOp>,
            _ => &ActForwardRow<SiluOp>,
        };
        float* product = Raw(act == Activation.Identity ? y : pre!).Pointer;
        var epilogue = new CpuGemm.Epilogue(row, bias is null ? null : Raw(bias).Pointer, Raw(y).Pointer);
        var shape = new MatmulShape(1, rows, outFeatures, inFeatures, false, false, 1f, 0f, false);
        CpuGemm.Run(Raw(x).Pointer, Raw(weight).Pointer, product, shape, macs < MatmulSerial ? null : Pool, epilogue);
    }
}
