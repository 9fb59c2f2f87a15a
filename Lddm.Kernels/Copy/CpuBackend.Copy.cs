namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    protected override unsafe void SwapAxesCore(DeviceBuffer<float> x, int outer, int a, int middle, int b, int inner, DeviceBuffer<float> dst)
    {
        float* px = Raw(x).Pointer, pd = Raw(dst).Pointer;
        // One work item per (outer, a) source slab: it reads contiguously and scatters rows of `inner`.
        Pool.For(outer * a, Math.Max(1, (1 << 14) / Math.Max(1, middle * b * inner)), (start, end) =>
        {
            for (int oa = start; oa < end; oa++)
            {
                int o = oa / a, i = oa % a;
                for (int m = 0; m < middle; m++)
                {
                    for (int j = 0; j < b; j++)
                    {
                        long src = ((((long)o * a + i) * middle + m) * b + j) * inner;
                        long dstIndex = ((((long)o * b + j) * middle + m) * a + i) * inner;
                        new ReadOnlySpan<float>(px + src, inner).CopyTo(new Span<float>(pd + dstIndex, inner));
                    }
                }
            }
        });
    }

    protected override unsafe void CopyBlockCore(DeviceBuffer<float> src, int srcOffset, int srcStride, DeviceBuffer<float> dst,
        int dstOffset, int dstStride, int rows, int cols, bool accumulate)
    {
        float* ps = Raw(src).Pointer + srcOffset, pd = Raw(dst).Pointer + dstOffset;
        Pool.For(rows, Math.Max(1, (1 << 14) / cols), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                float* s = ps + (long)r * srcStride, d = pd + (long)r * dstStride;
                if (accumulate)
                {
                    Simd.Binary<AddOperator>(d, s, d, cols);
                }
                else
                {
                    new ReadOnlySpan<float>(s, cols).CopyTo(new Span<float>(d, cols));
                }
            }
        });
    }

    protected override unsafe void StridedCore(DeviceBuffer<float> contiguous, DeviceBuffer<float> strided, StridedLayout layout,
        bool scatter, bool accumulate)
    {
        int[] shape = layout.MergedShape, strides = layout.MergedStrides;
        if (shape.Length == 0)
        {
            // Every axis has size 1: one element.
            shape = [1];
            strides = [1];
        }
        float* pc = Raw(contiguous).Pointer, ps = Raw(strided).Pointer + layout.Offset;
        int rank = shape.Length, inner = shape[^1], innerStride = strides[^1];
        int rows = layout.Elements / inner;
        // One work item per row of the innermost axis; each chunk walks its rows with an odometer over the outer axes.
        Pool.For(rows, Math.Max(1, (1 << 14) / inner), (start, end) =>
        {
            Span<int> index = stackalloc int[rank];
            long position = 0;
            for (int d = rank - 2, rest = start; d >= 0; d--)
            {
                index[d] = rest % shape[d];
                rest /= shape[d];
                position += (long)index[d] * strides[d];
            }
            for (int r = start; r < end; r++)
            {
                float* c = pc + (long)r * inner, v = ps + position;
                if (innerStride == 1)
                {
                    float* from = scatter ? c : v, to = scatter ? v : c;
                    if (accumulate)
                    {
                        Simd.Binary<AddOperator>(to, from, to, inner);
                    }
                    else
                    {
                        new ReadOnlySpan<float>(from, inner).CopyTo(new Span<float>(to, inner));
                    }
                }
                else if (scatter)
                {
                    for (int i = 0; i < inner; i++)
                    {
                        v[(long)i * innerStride] = accumulate ? v[(long)i * innerStride] + c[i] : c[i];
                    }
                }
                else
                {
                    for (int i = 0; i < inner; i++)
                    {
                        c[i] = accumulate ? c[i] + v[(long)i * innerStride] : v[(long)i * innerStride];
                    }
                }
                for (int d = rank - 2; d >= 0; d--)
                {
                    position += strides[d];
                    if (++index[d] < shape[d])
                    {
                        break;
                    }
                    position -= (long)shape[d] * strides[d];
                    index[d] = 0;
                }
            }
        });
    }
}
