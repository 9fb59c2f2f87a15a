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
}
