using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class ElementwiseTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void Add_broadcasts_b_over_leading_axes_like_the_reference(Dim rows, Dim cols, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var a = Numerics.RandomFloats(rng, rows * cols);
            var b = Numerics.RandomFloats(rng, cols);
            using var da = backend.Upload<float>(a);
            using var db = backend.Upload<float>(b);
            using var dst = Numerics.Poisoned(backend, a.Length);
            backend.Add(da, db, dst);
            Numerics.AssertClose(ElementwiseReference.Add(a, b), dst.ToArray(), 1e-7,
                $"Add on {backend.Name}, seed {seed}, a ({rows}, {cols})");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void Mul_matches_the_reference_for_full_and_scalar_b(Dim n, bool scalar, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var a = Numerics.RandomFloats(rng, n);
            var b = Numerics.RandomFloats(rng, scalar ? 1 : n);
            using var da = backend.Upload<float>(a);
            using var db = backend.Upload<float>(b);
            using var dst = Numerics.Poisoned(backend, a.Length);
            backend.Mul(da, db, dst);
            Numerics.AssertClose(ElementwiseReference.Mul(a, b), dst.ToArray(), 1e-7,
                $"Mul on {backend.Name}, seed {seed}, n {n}, scalar b {scalar}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void Axpby_accumulates_and_ignores_poison_when_beta_is_zero(Dim n, bool overwrite, int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var x = Numerics.RandomFloats(rng, n);
            var y = overwrite ? Enumerable.Repeat(float.NaN, n).ToArray() : Numerics.RandomFloats(rng, n);
            float alpha = (float)rng.NextDouble() * 3 - 1.5f, beta = overwrite ? 0f : (float)rng.NextDouble();
            using var dx = backend.Upload<float>(x);
            using var dy = backend.Upload<float>(y);
            backend.Axpby(alpha, dx, beta, dy);
            Numerics.AssertClose(ElementwiseReference.Axpby(alpha, x, beta, y), dy.ToArray(), 1e-6,
                $"Axpby on {backend.Name}, seed {seed}, n {n}, beta {beta}");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Add_rejects_a_b_that_does_not_broadcast_naming_both_lengths(string name)
    {
        var backend = TestBackends.Get(name);
        using var a = backend.Allocate<float>(10);
        using var b = backend.Allocate<float>(3);
        using var dst = backend.Allocate<float>(10);
        var e = Assert.Throws<ArgumentException>(() => backend.Add(a, b, dst));
        Assert.Contains("'b' has 3", e.Message);
        Assert.Contains("a's 10", e.Message);
    }

    [Fact]
    public void Kernels_reject_a_buffer_of_another_backend()
    {
        using var a = TestBackends.Cpu.Allocate<float>(4);
        using var y = TestBackends.IlgpuCpu.Allocate<float>(4);
        var e = Assert.Throws<ArgumentException>(() => TestBackends.IlgpuCpu.Axpby(1f, a, 0f, y));
        Assert.Contains("'x' lives on cpu", e.Message);
    }
}
