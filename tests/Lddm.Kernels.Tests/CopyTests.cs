using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class CopyTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void SwapAxes_matches_the_reference_for_any_split_of_the_shape(SmallDim a, SmallDim b, SmallDim inner, bool middle, int seed)
    {
        // Keep the element count small for the ILGPU simulator: outer and middle are 1–3.
        int m = middle ? 3 : 1, outer = 1 + (seed & 1);
        foreach (var backend in TestBackends.All)
        {
            var x = Numerics.RandomFloats(new Random(seed), outer * a * m * b * inner);
            using var dx = backend.Upload<float>(x);
            using var dst = Numerics.Poisoned(backend, x.Length);
            backend.SwapAxes(dx, outer, a, m, b, inner, dst);
            Numerics.AssertClose(CopyReference.SwapAxes(x, outer, a, m, b, inner), dst.ToArray(), 0,
                $"SwapAxes on {backend.Name}, seed {seed}, ({outer}, {a}, {m}, {b}, {inner})");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void CopyBlock_writes_or_adds_exactly_the_block_and_nothing_else(SmallDim rows, SmallDim cols, SmallDim pad, bool accumulate, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            int srcStride = cols + pad, dstStride = cols + 2 * pad, srcOffset = pad, dstOffset = pad - 1;
            var src = Numerics.RandomFloats(rng, srcOffset + rows * srcStride);
            var dst = Numerics.RandomFloats(rng, dstOffset + rows * dstStride + 3);
            using var ds = backend.Upload<float>(src);
            using var dd = backend.Upload<float>(dst);
            backend.CopyBlock(ds, srcOffset, srcStride, dd, dstOffset, dstStride, rows, cols, accumulate);
            Numerics.AssertClose(CopyReference.CopyBlock(src, srcOffset, srcStride, dst, dstOffset, dstStride, rows, cols, accumulate),
                dd.ToArray(), 1e-7, $"CopyBlock on {backend.Name}, seed {seed}, {rows}x{cols}, accumulate {accumulate}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void A_block_that_runs_past_the_buffer_is_rejected_with_its_extent(string name)
    {
        var backend = TestBackends.Get(name);
        using var src = backend.Allocate<float>(10);
        using var dst = backend.Allocate<float>(10);
        var e = Assert.Throws<ArgumentException>(() => backend.CopyBlock(src, 0, 5, dst, 2, 5, 2, 5));
        Assert.Contains("ends at element 12", e.Message);
        Assert.Contains("'dst' has 10", e.Message);
        var s = Assert.Throws<ArgumentException>(() => backend.SwapAxes(src, 1, 2, 1, 3, 1, dst));
        Assert.Contains("'x' has 10 elements", s.Message);
    }
}
