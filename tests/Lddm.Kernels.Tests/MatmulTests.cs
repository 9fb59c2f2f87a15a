using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class MatmulTests
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 25)]
    public void Cpu_matmul_matches_the_reference_for_edge_dims_and_both_transposes(Dim m, Dim n, Dim k,
        bool transposeA, bool transposeB, int seed) =>
        AssertMatches(TestBackends.Cpu, 1, m, n, k, transposeA, transposeB, alpha: 1f, beta: 0f, broadcastB: false,
            seed);

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void Cpu_matmul_applies_alpha_beta_per_batch_and_broadcasts_b(Dim m, Dim n, Dim k, bool transposeA,
        bool transposeB, bool broadcastB, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(3);
        float alpha = (float)(rng.NextDouble() * 3 - 1.5), beta = rng.Next(3) switch { 0 => 0f, 1 => 1f, _ => -0.5f };
        AssertMatches(TestBackends.Cpu, batch, m, n, k, transposeA, transposeB, alpha, beta, broadcastB, seed);
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void Both_backends_match_the_reference_on_small_batched_problems(SmallDim m, SmallDim n, SmallDim k,
        bool transposeA, bool transposeB, bool broadcastB, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(3);
        float alpha = (float)(rng.NextDouble() * 3 - 1.5), beta = rng.Next(3) switch { 0 => 0f, 1 => 1f, _ => 0.75f };
        foreach (var backend in TestBackends.All)
        {
            AssertMatches(backend, batch, m, n, k, transposeA, transposeB, alpha, beta, broadcastB, seed);
        }
    }

    /// <summary>
    /// The ILGPU FP32 kernel reads an operand as 128-bit quads only when its stored rows are whole quads and its view
    /// starts on one (<c>MatmulParams.QuadA/QuadB</c>), else float by float with zeros past the edge. Each shape makes
    /// a different one of m, n, k a multiple of 4 (k contiguous in A as stored and in Bᵀ, m in Aᵀ, n in B), over
    /// 2 × 2 tiles and a ragged last k slice; the operands are slices starting 0 or 1 float into their allocation
    /// (1: never quads). A quad taken along the wrong dimension, a wrong quad index or a lost tail shows as a wrong
    /// element; C is poisoned with NaN (β = 0 must not read it).
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Ilgpu_quad_and_float_loads_match_the_reference_in_every_layout(bool transposeA, bool transposeB)
    {
        var backend = TestBackends.IlgpuCpu;
        (int M, int N, int K)[] shapes = [(68, 72, 36), (67, 70, 39), (12, 71, 37), (66, 8, 39), (67, 70, 20)];
        foreach (var (m, n, k) in shapes)
        {
            foreach (int offset in new[] { 0, 1 })
            {
                // C is a slice at the same offset: quad stores when n % 4 = 0 and the offset is 0; β ≠ 0 reads C first.
                foreach (float beta in new[] { 0f, 0.5f })
                {
                    var rng = new Random(m * 10007 + n * 101 + k + offset + (beta == 0f ? 0 : 7919));
                    const int batch = 2;
                    var a = Numerics.RandomFloats(rng, batch * m * k);
                    var b = Numerics.RandomFloats(rng, batch * k * n);
                    var c = beta == 0f ? Enumerable.Repeat(float.NaN, batch * m * n).ToArray() : Numerics.RandomFloats(rng, batch * m * n);
                    using var da = backend.Allocate<float>(offset + a.Length);
                    using var db = backend.Allocate<float>(offset + b.Length);
                    using var dc = backend.Full(offset + c.Length + 4, float.NaN);
                    using var sa = da.Slice(offset, a.Length);
                    using var sb = db.Slice(offset, b.Length);
                    using var sc = dc.Slice(offset, c.Length);
                    sa.CopyFrom(a);
                    sb.CopyFrom(b);
                    sc.CopyFrom(c);
                    backend.Matmul(sa, sb, sc, batch, m, n, k, transposeA, transposeB, alpha: 1.5f, beta: beta);
                    var expected = MatmulReference.Matmul(a, b, beta == 0f ? new float[c.Length] : c, batch, m, n, k, transposeA,
                        transposeB, 1.5, beta, false);
                    string context = $"Matmul on {backend.Name}, m {m}, n {n}, k {k}, slice offset {offset}, β {beta}, " +
                        $"transposeA {transposeA}, transposeB {transposeB}";
                    Numerics.AssertClose(expected, sc.ToArray(), Numerics.Tolerance(k), context);
                    // Nothing written outside C's slice.
                    var all = dc.ToArray();
                    Assert.True(all.Take(offset).Concat(all.Skip(offset + c.Length)).All(float.IsNaN), context + ": wrote outside C");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Large_k_accumulates_across_k_blocks_with_beta_one(string name)
    {
        // k = 600 spans three CPU K blocks and many GPU K slices; β = 1 must add once, not once per block.
        var backend = TestBackends.Get(name);
        int m = name == "cpu" ? 70 : 9, n = name == "cpu" ? 40 : 5;
        AssertMatches(backend, 2, m, n, 600, false, true, alpha: 0.5f, beta: 1f, broadcastB: true, seed: 7);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Matmul_rejects_a_wrong_b_length_naming_both_shapes(string name)
    {
        var backend = TestBackends.Get(name);
        using var a = backend.Allocate<float>(2 * 3 * 4);
        using var b = backend.Allocate<float>(4 * 5);
        using var c = backend.Allocate<float>(2 * 3 * 5);
        var e = Assert.Throws<ArgumentException>(() => backend.Matmul(a, b, c, 2, 3, 5, 4));
        Assert.Contains("Matmul", e.Message);
        Assert.Contains("'b' has 20 elements", e.Message);
        Assert.Contains("(2, 4, 5)", e.Message);
        backend.Matmul(a, b, c, 2, 3, 5, 4, broadcastB: true);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Matmul_rejects_a_wrong_a_or_c_length_naming_the_transposed_shape(string name)
    {
        var backend = TestBackends.Get(name);
        using var a = backend.Allocate<float>(12);
        using var b = backend.Allocate<float>(20);
        using var c = backend.Allocate<float>(15);
        var ea = Assert.Throws<ArgumentException>(() => backend.Matmul(a, b, c, 1, 3, 5, 5, transposeA: true));
        Assert.Contains("'a' has 12 elements but shape (1, 5, 3) needs 15", ea.Message);
        using var cBad = backend.Allocate<float>(14);
        var ec = Assert.Throws<ArgumentException>(() => backend.Matmul(a, b, cBad, 1, 3, 5, 4));
        Assert.Contains("'c' has 14 elements but shape (1, 3, 5) needs 15", ec.Message);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Matmul_rejects_non_positive_sizes_and_non_finite_scalars(string name)
    {
        var backend = TestBackends.Get(name);
        using var a = backend.Allocate<float>(4);
        using var b = backend.Allocate<float>(4);
        using var c = backend.Allocate<float>(4);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.Matmul(a, b, c, 1, 2, 2, 0));
        Assert.Contains("'k' must be positive but was 0", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.Matmul(a, b, c, -1, 2, 2, 1));
        Assert.Contains("'batch' must be positive", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.Matmul(a, b, c, 1, 2, 2, 1, alpha: float.NaN));
        Assert.Contains("'alpha' must be finite", e.Message);
    }

    private static void AssertMatches(Backend backend, int batch, int m, int n, int k, bool transposeA,
        bool transposeB, float alpha, float beta, bool broadcastB, int seed)
    {
        var rng = new Random(seed);
        var a = Numerics.RandomFloats(rng, batch * m * k);
        var b = Numerics.RandomFloats(rng, (broadcastB ? 1 : batch) * k * n);
        // β = 0 must not read C: poison it. Otherwise C holds values the product must scale and add to.
        var c = beta == 0f ? Enumerable.Repeat(float.NaN, batch * m * n).ToArray() : Numerics.RandomFloats(rng, batch * m * n);
        using var da = backend.Upload<float>(a);
        using var db = backend.Upload<float>(b);
        using var dc = backend.Upload<float>(c);
        backend.Matmul(da, db, dc, batch, m, n, k, transposeA, transposeB, alpha, beta, broadcastB);
        var expected = MatmulReference.Matmul(a, b, c, batch, m, n, k, transposeA, transposeB, alpha, beta, broadcastB);
        Numerics.AssertClose(expected, dc.ToArray(), Numerics.Tolerance(k),
            $"Matmul on {backend.Name}, seed {seed}, batch {batch}, m {m}, n {n}, k {k}, transposeA {transposeA}, " +
            $"transposeB {transposeB}, alpha {alpha}, beta {beta}, broadcastB {broadcastB}");
    }
}
