using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lddm.Kernels.Cpu;

/// <summary>
/// Philox on the CPU: 16 counters at a time in AVX-512 lanes (vpmuludq on even and odd lanes gives the
/// 32×32→64 products), scalar <see cref="Philox"/> for tails and where the low counter word would wrap inside a
/// vector. Each element depends only on its index, so chunking over threads cannot change a single bit.
/// </summary>
public sealed partial class CpuBackend
{
    private const int RngChunk = 1 << 12;

    protected override unsafe void FillUniformCore(ulong seed, ulong stream, long offset, DeviceBuffer<float> dst) =>
        PhiloxFill(new UniformSink(Raw(dst).Pointer), dst.Length, seed, stream, offset);

    protected override unsafe void FillUniformDoubleCore(ulong seed, ulong stream, long offset, DeviceBuffer<double> dst) =>
        PhiloxFill(new UniformDoubleSink(Raw(dst).Pointer), dst.Length, seed, stream, offset);

    protected override unsafe void FillNormalCore(ulong seed, ulong stream, long offset, DeviceBuffer<float> dst, float mean, float std) =>
        PhiloxFill(new NormalSink(Raw(dst).Pointer, mean, std), dst.Length, seed, stream, offset);

    protected override unsafe void DropoutForwardCore(DeviceBuffer<float> x, float p, ulong seed, ulong stream, long offset, DeviceBuffer<float> y) =>
        PhiloxFill(new DropoutSink(Raw(x).Pointer, Raw(y).Pointer, p, DropoutScale(p), accumulate: false), x.Length, seed, stream, offset);

    protected override unsafe void DropoutBackwardCore(DeviceBuffer<float> dy, float p, ulong seed, ulong stream, long offset, DeviceBuffer<float> dx) =>
        PhiloxFill(new DropoutSink(Raw(dy).Pointer, Raw(dx).Pointer, p, DropoutScale(p), accumulate: true), dy.Length, seed, stream, offset);

    /// <summary>Consumes Philox blocks: 16 at a time as lanes of four word vectors, or one at a time.</summary>
    private interface IPhiloxSink
    {
        void Vector(int i, Vector512<uint> x0, Vector512<uint> x1, Vector512<uint> x2, Vector512<uint> x3);

        void Scalar(int i, Philox.Block b);
    }

    private void PhiloxFill<TSink>(TSink sink, int n, ulong seed, ulong stream, long offset)
        where TSink : struct, IPhiloxSink =>
        Pool.For(n, RngChunk, (start, end) => PhiloxRange(sink, start, end, seed, stream, offset));

    /// <summary>Element i gets the block of counter (offset + i, stream) under key seed.</summary>
    private static void PhiloxRange<TSink>(TSink sink, int start, int end, ulong seed, ulong stream, long offset)
        where TSink : struct, IPhiloxSink
    {
        int i = start;
        if (Avx512F.IsSupported)
        {
            var lane = Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            var c2 = Vector512.Create((uint)stream);
            var c3 = Vector512.Create((uint)(stream >> 32));
            uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
            for (; i <= end - 16; i += 16)
            {
                ulong index = (ulong)(offset + i);
                if ((uint)index > uint.MaxValue - 15)
                {
                    // The low word wraps inside this vector: the high word differs across lanes.
                    for (int j = i; j < i + 16; j++)
                    {
                        sink.Scalar(j, Philox.Generate(seed, stream, offset + j));
                    }
                    continue;
                }
                Philox16(Vector512.Create((uint)index) + lane, Vector512.Create((uint)(index >> 32)), c2, c3, k0, k1,
                    out var x0, out var x1, out var x2, out var x3);
                sink.Vector(i, x0, x1, x2, x3);
            }
        }
        for (; i < end; i++)
        {
            sink.Scalar(i, Philox.Generate(seed, stream, offset + i));
        }
    }

    /// <summary>Philox4x32-10 on 16 counters at once; same rounds as <see cref="Philox.Generate(uint, uint, uint, uint, uint, uint)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Philox16(Vector512<uint> c0, Vector512<uint> c1, Vector512<uint> c2, Vector512<uint> c3,
        uint k0, uint k1, out Vector512<uint> x0, out Vector512<uint> x1, out Vector512<uint> x2, out Vector512<uint> x3)
    {
        var m0 = Vector512.Create((ulong)Philox.M0).AsUInt32();
        var m1 = Vector512.Create((ulong)Philox.M1).AsUInt32();
        for (int r = 0; r < 10; r++)
        {
            var (hi0, lo0) = MulWide(c0, m0);
            var (hi1, lo1) = MulWide(c2, m1);
            c0 = hi1 ^ c1 ^ Vector512.Create(k0);
            c1 = lo1;
            c2 = hi0 ^ c3 ^ Vector512.Create(k1);
            c3 = lo0;
            k0 += Philox.W0;
            k1 += Philox.W1;
        }
        (x0, x1, x2, x3) = (c0, c1, c2, c3);
    }

    /// <summary>Per-lane 32×32→64 product split into high and low words (m holds the multiplier in even lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<uint> Hi, Vector512<uint> Lo) MulWide(Vector512<uint> a, Vector512<uint> m)
    {
        var even = Avx512F.Multiply(a, m);
        var odd = Avx512F.Multiply(Vector512.ShiftRightLogical(a.AsUInt64(), 32).AsUInt32(), m);
        var highMask = Vector512.Create(0xFFFF_FFFF_0000_0000UL);
        var hi = Vector512.ShiftRightLogical(even, 32) | (odd & highMask);
        var lo = (even & ~highMask) | Vector512.ShiftLeft(odd, 32);
        return (hi.AsUInt32(), lo.AsUInt32());
    }

    private readonly unsafe struct UniformSink(float* dst) : IPhiloxSink
    {
        public void Vector(int i, Vector512<uint> x0, Vector512<uint> x1, Vector512<uint> x2, Vector512<uint> x3) =>
            (Vector512.ConvertToSingle(Vector512.ShiftRightLogical(x0, 8).AsInt32()) * (1f / (1 << 24))).Store(dst + i);

        public void Scalar(int i, Philox.Block b) => dst[i] = Philox.ToUniform(b.X0);
    }

    private readonly unsafe struct UniformDoubleSink(double* dst) : IPhiloxSink
    {
        public void Vector(int i, Vector512<uint> x0, Vector512<uint> x1, Vector512<uint> x2, Vector512<uint> x3)
        {
            var (a0, a1) = Vector512.Widen(Vector512.ShiftRightLogical(x0, 5));
            var (b0, b1) = Vector512.Widen(Vector512.ShiftRightLogical(x1, 6));
            const double scale = 1.0 / (1L << 53);
            (Vector512.ConvertToDouble((Vector512.ShiftLeft(a0, 26) | b0).AsInt64()) * scale).Store(dst + i);
            (Vector512.ConvertToDouble((Vector512.ShiftLeft(a1, 26) | b1).AsInt64()) * scale).Store(dst + i + 8);
        }

        public void Scalar(int i, Philox.Block b) => dst[i] = Philox.ToUniformDouble(b.X0, b.X1);
    }

    /// <summary>Box–Muller stays scalar System.Math (log, cos, sqrt) so CPU backends agree bit for bit.</summary>
    private readonly unsafe struct NormalSink(float* dst, float mean, float std) : IPhiloxSink
    {
        public void Vector(int i, Vector512<uint> x0, Vector512<uint> x1, Vector512<uint> x2, Vector512<uint> x3)
        {
            for (int j = 0; j < 16; j++)
            {
                dst[i + j] = mean + std * Philox.ToNormal(x0.GetElement(j), x1.GetElement(j), x2.GetElement(j), x3.GetElement(j));
            }
        }

        public void Scalar(int i, Philox.Block b) => dst[i] = mean + std * Philox.ToNormal(b.X0, b.X1, b.X2, b.X3);
    }

    /// <summary>Forward: y = keep ? x·scale : 0. Backward (accumulate): dx += dy·scale where kept, untouched elsewhere.</summary>
    private readonly unsafe struct DropoutSink(float* src, float* dst, float p, float scale, bool accumulate) : IPhiloxSink
    {
        public void Vector(int i, Vector512<uint> x0, Vector512<uint> x1, Vector512<uint> x2, Vector512<uint> x3)
        {
            var u = Vector512.ConvertToSingle(Vector512.ShiftRightLogical(x0, 8).AsInt32()) * (1f / (1 << 24));
            var keep = Vector512.GreaterThanOrEqual(u, Vector512.Create(p));
            var scaled = Vector512.Load(src + i) * Vector512.Create(scale);
            var r = accumulate
                ? Vector512.ConditionalSelect(keep, Vector512.Load(dst + i) + scaled, Vector512.Load(dst + i))
                : Vector512.ConditionalSelect(keep, scaled, Vector512<float>.Zero);
            r.Store(dst + i);
        }

        public void Scalar(int i, Philox.Block b)
        {
            bool keep = Philox.ToUniform(b.X0) >= p;
            if (accumulate)
            {
                if (keep)
                {
                    dst[i] += src[i] * scale;
                }
            }
            else
            {
                dst[i] = keep ? src[i] * scale : 0f;
            }
        }
    }
}
