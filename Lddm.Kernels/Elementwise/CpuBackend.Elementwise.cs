using System.Runtime.Intrinsics;

namespace Lddm.Kernels.Cpu;

public sealed partial class CpuBackend
{
    private const int ElementwiseChunk = 1 << 14;

    protected override unsafe void AddCore(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dst) =>
        Broadcast<AddOperator>(Raw(a).Pointer, Raw(b).Pointer, Raw(dst).Pointer, a.Length, b.Length);

    protected override unsafe void MulCore(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dst) =>
        Broadcast<MulOperator>(Raw(a).Pointer, Raw(b).Pointer, Raw(dst).Pointer, a.Length, b.Length);

    protected override unsafe void AxpbyCore(float alpha, DeviceBuffer<float> x, float beta, DeviceBuffer<float> y)
    {
        float* px = Raw(x).Pointer, py = Raw(y).Pointer;
        Pool.For(x.Length, ElementwiseChunk, (start, end) =>
        {
            int i = start;
            if (Vector512.IsHardwareAccelerated)
            {
                var va = Vector512.Create(alpha);
                var vb = Vector512.Create(beta);
                for (; i <= end - 16; i += 16)
                {
                    // β = 0 must not read y (it may hold NaN poison or garbage from the pool).
                    var r = va * Vector512.Load(px + i);
                    if (beta != 0f)
                    {
                        r = Vector512.FusedMultiplyAdd(vb, Vector512.Load(py + i), r);
                    }
                    r.Store(py + i);
                }
            }
            for (; i < end; i++)
            {
                py[i] = beta == 0f ? alpha * px[i] : MathF.FusedMultiplyAdd(beta, py[i], alpha * px[i]);
            }
        });
    }

    /// <summary>dst = op(a, b broadcast): whole rows of |b| per work item, or a scalar when |b| = 1.</summary>
    private unsafe void Broadcast<TOp>(float* a, float* b, float* dst, int n, int nb) where TOp : IBinaryOperator
    {
        if (nb == 1)
        {
            float s = b[0];
            Pool.For(n, ElementwiseChunk, (start, end) => Simd.BinaryScalar<TOp>(a + start, s, dst + start, end - start));
            return;
        }
        if (nb == n)
        {
            Pool.For(n, ElementwiseChunk, (start, end) => Simd.Binary<TOp>(a + start, b + start, dst + start, end - start));
            return;
        }
        int rows = n / nb;
        Pool.For(rows, Math.Max(1, ElementwiseChunk / nb), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                Simd.Binary<TOp>(a + (long)r * nb, b, dst + (long)r * nb, nb);
            }
        });
    }

    internal readonly struct AddOperator : IBinaryOperator
    {
        public static float Invoke(float x, float y) => x + y;
        public static Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x + y;
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x + y;
    }

    private readonly struct MulOperator : IBinaryOperator
    {
        public static float Invoke(float x, float y) => x * y;
        public static Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x * y;
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x * y;
    }
}
