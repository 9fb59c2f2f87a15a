using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    protected override unsafe void ModulateForwardCore(DeviceBuffer<float> x, DeviceBuffer<float> shift,
        DeviceBuffer<float> scale, int batch, int tokens, int hidden, DeviceBuffer<float> y)
    {
        float* px = Raw(x).Pointer, ps = Raw(shift).Pointer, pc = Raw(scale).Pointer, py = Raw(y).Pointer;
        Pool.For(batch * tokens, Math.Max(1, ElementwiseChunk / hidden), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long row = (long)r * hidden, vec = (long)(r / tokens) * hidden;
                ModulateRow(px + row, ps + vec, pc + vec, py + row, hidden);
            }
        });
    }

    protected override unsafe void GatedResidualForwardCore(DeviceBuffer<float> residual, DeviceBuffer<float> gate,
        DeviceBuffer<float> x, int batch, int tokens, int hidden, DeviceBuffer<float> y)
    {
        float* pr = Raw(residual).Pointer, pg = Raw(gate).Pointer, px = Raw(x).Pointer, py = Raw(y).Pointer;
        Pool.For(batch * tokens, Math.Max(1, ElementwiseChunk / hidden), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                long row = (long)r * hidden, vec = (long)(r / tokens) * hidden;
                GatedRow(pr + row, pg + vec, px + row, py + row, hidden);
            }
        });
    }

    protected override unsafe void ModulateBackwardCore(DeviceBuffer<float> x, DeviceBuffer<float> scale,
        DeviceBuffer<float> dy, int batch, int tokens, int hidden,
        DeviceBuffer<float>? dx, DeviceBuffer<float>? dshift, DeviceBuffer<float>? dscale, bool writeDx)
    {
        var p = new ModulationPointers(Raw(x).Pointer, Raw(scale).Pointer, Raw(dy).Pointer, RawOrNull(dx),
            RawOrNull(dshift), RawOrNull(dscale), null, 1f, writeDx, false);
        ModulationBackwardBlocks(p, batch, tokens, hidden);
    }

    protected override unsafe void GatedResidualBackwardCore(DeviceBuffer<float> gate, DeviceBuffer<float> x,
        DeviceBuffer<float> dy, int batch, int tokens, int hidden,
        DeviceBuffer<float>? dresidual, DeviceBuffer<float>? dgate, DeviceBuffer<float>? dx, bool writeDresidual,
        bool writeDx)
    {
        // Same pass as the modulate backward with scale → gate, offset 0, no Σdy, and dresidual += dy.
        var p = new ModulationPointers(Raw(x).Pointer, Raw(gate).Pointer, Raw(dy).Pointer, RawOrNull(dx),
            null, RawOrNull(dgate), RawOrNull(dresidual), 0f, writeDx, writeDresidual);
        ModulationBackwardBlocks(p, batch, tokens, hidden);
    }

    private static unsafe float* RawOrNull(DeviceBuffer<float>? buffer) => buffer is null ? null : Raw(buffer).Pointer;

    /// <summary>
    /// The backward pass shared by modulate and gated residual, for one sequence b:
    /// dx += dy·(offset + v[b]); dsum[b] += Σ_t dy; ddot[b] += Σ_t dy·x; dcopy += dy (each only when non-null).
    /// <see cref="WriteDx"/> / <see cref="WriteDCopy"/>: dx / dcopy written (=), their old contents never read.
    /// </summary>
    private readonly unsafe struct ModulationPointers(float* x, float* v, float* dy, float* dx,
        float* dsum, float* ddot, float* dcopy, float offset, bool writeDx, bool writeDCopy)
    {
        public readonly float* X = x, V = v, Dy = dy, Dx = dx, DSum = dsum, DDot = ddot, DCopy = dcopy;
        public readonly float Offset = offset;
        public readonly bool WriteDx = writeDx, WriteDCopy = writeDCopy;
    }

    /// <summary>
    /// Work items are (b, block of columns): each streams its rows of dy/x over all tokens once, so the Σ_t
    /// reductions are race-free (one owner per (b, h)). Blocks are as wide as possible (whole rows when
    /// batch ≥ threads) so the row segments are long contiguous streams; accumulators stay in L1.
    /// </summary>
    private unsafe void ModulationBackwardBlocks(ModulationPointers p, int batch, int tokens, int hidden)
    {
        int perBatch = Math.Clamp((Pool.Threads + batch - 1) / batch, 1, (hidden + 15) / 16);
        int width = ((hidden + perBatch - 1) / perBatch + 15) / 16 * 16;
        int blocks = (hidden + width - 1) / width;
        Pool.For(batch * blocks, Math.Max(1, ElementwiseChunk / (tokens * Math.Min(width, hidden))), (start, end) =>
        {
            var rented = ArrayPool<float>.Shared.Rent(2 * width);
            fixed (float* sums = rented)
            {
                float* dots = sums + width;
                for (int item = start; item < end; item++)
                {
                    int b = item / blocks, h0 = item % blocks * width, w = Math.Min(width, hidden - h0);
                    new Span<float>(sums, 2 * width).Clear();
                    long vec = (long)b * hidden + h0;
                    for (int t = 0; t < tokens; t++)
                    {
                        BackwardRow(p, ((long)b * tokens + t) * hidden + h0, vec, sums, dots, w);
                    }
                    for (int h = 0; h < w; h++)
                    {
                        if (p.DSum != null) p.DSum[vec + h] += sums[h];
                        if (p.DDot != null) p.DDot[vec + h] += dots[h];
                    }
                }
            }
            ArrayPool<float>.Shared.Return(rented);
        });
    }

    /// <summary>One row segment of <see cref="ModulationBackwardBlocks"/>: SIMD over columns.</summary>
    private static unsafe void BackwardRow(in ModulationPointers p, long row, long vec, float* sums, float* dots, int n)
    {
        float* dy = p.Dy + row, x = p.X + row, v = p.V + vec;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - 16; i += 16)
            {
                var g = Vector512.Load(dy + i);
                (Vector512.Load(sums + i) + g).Store(sums + i);
                Vector512.FusedMultiplyAdd(g, Vector512.Load(x + i), Vector512.Load(dots + i)).Store(dots + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 8; i += 8)
            {
                var g = Vector256.Load(dy + i);
                (Vector256.Load(sums + i) + g).Store(sums + i);
                Vector256.FusedMultiplyAdd(g, Vector256.Load(x + i), Vector256.Load(dots + i)).Store(dots + i);
            }
        }
        for (; i < n; i++)
        {
            float g = dy[i];
            sums[i] += g;
            dots[i] = MathF.FusedMultiplyAdd(g, x[i], dots[i]);
        }
        // The row's dx and dcopy in loops of their own (dy is in L1 by now), each mode's loop free of the other's
        // branch. Written gradients: the same expression as the accumulation into +0 (g·s + 0 and 0 + g), unread.
        if (p.Dx != null)
        {
            if (p.WriteDx)
            {
                ScaledRow<RowWrite>(dy, v, p.Offset, p.Dx + row, n);
            }
            else
            {
                ScaledRow<RowAdd>(dy, v, p.Offset, p.Dx + row, n);
            }
        }
        if (p.DCopy != null)
        {
            if (p.WriteDCopy)
            {
                ScaledRow<RowCopy>(dy, v, 0f, p.DCopy + row, n);
            }
            else
            {
                Simd.Binary<AddOperator>(p.DCopy + row, dy, p.DCopy + row, n);
            }
        }
    }

    /// <summary>How <see cref="ScaledRow{TMode}"/> combines g = dy and s = offset + v[b] into d.</summary>
    private unsafe interface IRowUpdate
    {
        /// <summary>Whether d is written without being read.</summary>
        static abstract bool Writes { get; }

        static abstract Vector512<float> Apply(Vector512<float> g, Vector512<float> s, float* d);

        static abstract Vector256<float> Apply(Vector256<float> g, Vector256<float> s, float* d);

        static abstract float Apply(float g, float s, float d);
    }

    /// <summary>d = g·s + 0 (d unread).</summary>
    private readonly unsafe struct RowWrite : IRowUpdate
    {
        public static bool Writes => true;

        public static Vector512<float> Apply(Vector512<float> g, Vector512<float> s, float* d) => g * s + Vector512<float>.Zero;

        public static Vector256<float> Apply(Vector256<float> g, Vector256<float> s, float* d) => g * s + Vector256<float>.Zero;

        public static float Apply(float g, float s, float d) => g * s + 0f;
    }

    /// <summary>d += g·s (one FMA).</summary>
    private readonly unsafe struct RowAdd : IRowUpdate
    {
        public static bool Writes => false;

        public static Vector512<float> Apply(Vector512<float> g, Vector512<float> s, float* d) =>
            Vector512.FusedMultiplyAdd(g, s, Vector512.Load(d));

        public static Vector256<float> Apply(Vector256<float> g, Vector256<float> s, float* d) =>
            Vector256.FusedMultiplyAdd(g, s, Vector256.Load(d));

        public static float Apply(float g, float s, float d) => MathF.FusedMultiplyAdd(g, s, d);
    }

    /// <summary>d = 0 + g (d unread).</summary>
    private readonly unsafe struct RowCopy : IRowUpdate
    {
        public static bool Writes => true;

        public static Vector512<float> Apply(Vector512<float> g, Vector512<float> s, float* d) => Vector512<float>.Zero + g;

        public static Vector256<float> Apply(Vector256<float> g, Vector256<float> s, float* d) => Vector256<float>.Zero + g;

        public static float Apply(float g, float s, float d) => 0f + g;
    }

    /// <summary>d[i] = TMode(dy[i], offset + v[i], d + i) over one row.</summary>
    private static unsafe void ScaledRow<TMode>(float* dy, float* v, float offset, float* d, int n) where TMode : IRowUpdate
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var off = Vector512.Create(offset);
            for (; i <= n - 16; i += 16)
            {
                if (TMode.Writes)
                {
                    // A write-only stream gets no help from the load prefetchers: ask for the line 4 ahead.
                    Sse.Prefetch0(d + i + 64);
                }
                TMode.Apply(Vector512.Load(dy + i), off + Vector512.Load(v + i), d + i).Store(d + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var off = Vector256.Create(offset);
            for (; i <= n - 8; i += 8)
            {
                TMode.Apply(Vector256.Load(dy + i), off + Vector256.Load(v + i), d + i).Store(d + i);
            }
        }
        for (; i < n; i++)
        {
            d[i] = TMode.Apply(dy[i], offset + v[i], d[i]);
        }
    }

    /// <summary>y = x·(1 + scale) + shift over one row.</summary>
    private static unsafe void ModulateRow(float* x, float* shift, float* scale, float* y, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - 16; i += 16)
            {
                Vector512.FusedMultiplyAdd(Vector512.Load(x + i), Vector512<float>.One + Vector512.Load(scale + i),
                    Vector512.Load(shift + i)).Store(y + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 8; i += 8)
            {
                Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256<float>.One + Vector256.Load(scale + i),
                    Vector256.Load(shift + i)).Store(y + i);
            }
        }
        for (; i < n; i++)
        {
            y[i] = MathF.FusedMultiplyAdd(x[i], 1f + scale[i], shift[i]);
        }
    }

    /// <summary>y = residual + gate·x over one row.</summary>
    internal static unsafe void GatedRow(float* residual, float* gate, float* x, float* y, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - 16; i += 16)
            {
                Vector512.FusedMultiplyAdd(Vector512.Load(gate + i), Vector512.Load(x + i), Vector512.Load(residual + i))
                    .Store(y + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 8; i += 8)
            {
                Vector256.FusedMultiplyAdd(Vector256.Load(gate + i), Vector256.Load(x + i), Vector256.Load(residual + i))
                    .Store(y + i);
            }
        }
        for (; i < n; i++)
        {
            y[i] = MathF.FusedMultiplyAdd(gate[i], x[i], residual[i]);
        }
    }
}
