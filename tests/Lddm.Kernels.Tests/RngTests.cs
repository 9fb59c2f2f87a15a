using System.Globalization;
using FsCheck.Xunit;
using Lddm.Kernels.Cpu;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Lddm.Kernels.Tests;

public sealed class RngTests
{
    private const int StatN = 1_000_000;

    // Random123 kat_vectors, philox4x32 10 rounds: (counter, key) → output. The published spec, not our output.
    public static TheoryData<uint[], uint[], uint[]> KnownAnswers => new()
    {
        { [0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8] },
        { [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd] },
        { [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1] },
    };

    [Theory]
    [MemberData(nameof(KnownAnswers))]
    public void Philox_and_the_reference_reproduce_the_Random123_known_answers(uint[] counter, uint[] key, uint[] expected)
    {
        var b = Philox.Generate(counter[0], counter[1], counter[2], counter[3], key[0], key[1]);
        Assert.Equal(expected, new[] { b.X0, b.X1, b.X2, b.X3 });
        Assert.Equal(expected, RngReference.Philox4x32_10(counter, key));
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void Fills_match_the_reference_bit_for_bit_on_every_backend(Dim length, byte extra, int seed)
    {
        var rng = new Random(seed);
        int n = length + extra;
        var (s, stream, offset) = RandomKey(rng);
        string ctx = $"seed {seed} (key {s:x}, stream {stream:x}, offset {offset}), n {n}";
        var uniform = RngReference.Uniform(s, stream, offset, n);
        var uniformDouble = RngReference.UniformDouble(s, stream, offset, n);
        var normal = RngReference.Normal(s, stream, offset, n, 0.5, 2.0);
        var outputs = new List<(string, float[], double[], float[])>();
        foreach (var backend in TestBackends.All)
        {
            using var f = Numerics.Poisoned(backend, n);
            using var d = backend.Full(n, double.NaN);
            using var z = Numerics.Poisoned(backend, n);
            backend.FillUniform(s, stream, offset, f);
            backend.FillUniform(s, stream, offset, d);
            backend.FillNormal(s, stream, offset, z, 0.5f, 2f);
            var (fv, dv, zv) = (f.ToArray(), d.ToArray(), z.ToArray());
            AssertBits(uniform.Select(u => (float)u).ToArray(), fv, $"FillUniform(float) on {backend.Name}, {ctx}");
            AssertBits(uniformDouble, dv, $"FillUniform(double) on {backend.Name}, {ctx}");
            Numerics.AssertClose(normal, zv, 1e-6, $"FillNormal on {backend.Name}, {ctx}");
            outputs.Add((backend.Name, fv, dv, zv));
        }
        // Normals use double log/cos: the two CPU-hosted backends both call System.Math, so bits agree too.
        AssertBits(outputs[0].Item4, outputs[1].Item4, $"FillNormal cpu vs {outputs[1].Item1}, {ctx}");
    }

    [Fact]
    public void Cpu_fills_are_bit_identical_with_one_and_two_threads()
    {
        const int n = 100_003;
        using var oneThread = new CpuBackend(threads: 1);
        using var twoThreads = new CpuBackend(threads: 2);
        var one = FillAll(oneThread, n);
        var two = FillAll(twoThreads, n);
        for (int k = 0; k < one.Length; k++)
        {
            AssertBits(one[k], two[k], $"output {k}, 1 vs 2 threads, n {n}");
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 10)]
    public void Filling_0_to_n_equals_filling_0_to_k_then_k_to_n_at_offset_k(Dim length, Dim split, int seed)
    {
        var rng = new Random(seed);
        int n = length + 40, k = split % n;
        var (s, stream, offset) = RandomKey(rng);
        foreach (var backend in TestBackends.All)
        {
            using var whole = Numerics.Poisoned(backend, n);
            using var head = Numerics.Poisoned(backend, k);
            using var tail = Numerics.Poisoned(backend, n - k);
            backend.FillNormal(s, stream, offset, whole);
            backend.FillNormal(s, stream, offset, head);
            backend.FillNormal(s, stream, offset + k, tail);
            AssertBits(whole.ToArray(), [.. head.ToArray(), .. tail.ToArray()],
                $"FillNormal split on {backend.Name}, seed {seed}, n {n}, k {k}");
        }
    }

    [Theory]
    [InlineData(1UL, 0UL)]
    [InlineData(0xDEADBEEFCAFEF00DUL, 7UL)]
    public void Uniforms_have_the_right_moments_and_pass_Kolmogorov_Smirnov(ulong seed, ulong stream)
    {
        var u = Fill(TestBackends.Cpu, seed, stream, StatN);
        double mean = u.Average(x => (double)x), variance = u.Average(x => (x - mean) * (x - mean));
        AssertWithin(mean, 0.5, 5 * Math.Sqrt(1.0 / 12 / StatN), "uniform mean");
        AssertWithin(variance, 1.0 / 12, 5 * Math.Sqrt(1.0 / 180 / StatN), "uniform variance"); // Var((U − ½)²) = 1/180
        AssertKs(u.Select(x => (double)x).ToArray(), x => Math.Clamp(x, 0, 1), "uniform float");
        using var d = TestBackends.Cpu.Allocate<double>(StatN);
        TestBackends.Cpu.FillUniform(seed, stream, 0, d);
        AssertKs(d.ToArray(), x => Math.Clamp(x, 0, 1), "uniform double");
    }

    [Fact]
    public void Gpu_box_muller_with_ilgpu_cordic_log_and_cos_agrees_with_the_cpu_normals_to_float_rounding()
    {
        // On a real GPU, ILGPU.Algorithms lowers double Math.Log/Math.Cos to its (internal) CORDIC routines; on the
        // host XMath forwards to System.Math. Run those CORDIC routines here to bound the GPU's normals.
        var cordic = typeof(ILGPU.Algorithms.XMath).GetNestedType("Cordic", System.Reflection.BindingFlags.NonPublic)!;
        var log = cordic.GetMethod("Log", [typeof(double)])!.CreateDelegate<Func<double, double>>();
        var cos = cordic.GetMethod("Cos", [typeof(double)])!.CreateDelegate<Func<double, double>>();
        int differ = 0;
        double worst = 0;
        for (long i = 0; i < 100_000; i++)
        {
            var b = Philox.Generate(17, 2, i);
            double u1 = (Philox.ToUniformDouble(b.X0, b.X1) * 9007199254740992.0 + 1) / 9007199254740992.0;
            double u2 = Philox.ToUniformDouble(b.X2, b.X3);
            float gpu = (float)(Math.Sqrt(-2.0 * log(u1)) * cos(2 * Math.PI * u2));
            float cpu = Philox.ToNormal(b.X0, b.X1, b.X2, b.X3);
            differ += gpu != cpu ? 1 : 0;
            worst = Math.Max(worst, Math.Abs(gpu - cpu));
        }
        AssertWithin(worst, 0, 1e-6, $"largest |GPU − CPU| normal ({differ} of 100000 differ in bits)");
    }

    [Theory]
    [InlineData(3UL, 0UL)]
    [InlineData(0x0123456789ABCDEFUL, 99UL)]
    public void Normals_have_the_right_moments_and_pass_Kolmogorov_Smirnov(ulong seed, ulong stream)
    {
        using var z = TestBackends.Cpu.Allocate<float>(StatN);
        TestBackends.Cpu.FillNormal(seed, stream, 0, z);
        var v = z.ToArray().Select(x => (double)x).ToArray();
        double mean = v.Average(), variance = v.Average(x => (x - mean) * (x - mean));
        AssertWithin(mean, 0, 5 / Math.Sqrt(StatN), "normal mean");
        AssertWithin(variance, 1, 5 * Math.Sqrt(2.0 / StatN), "normal variance");
        AssertKs(v, x => 0.5 * Erfc(-x / Math.Sqrt(2)), "normal");
    }

    [Theory]
    [InlineData(1UL, 0UL, 2UL, 0UL)]
    [InlineData(1UL, 0UL, 1UL, 1UL)]
    [InlineData(5UL, 1UL << 32, 5UL, 1UL)]
    [InlineData(1UL << 32, 0UL, 1UL, 0UL)]
    public void Different_seeds_or_streams_are_uncorrelated(ulong seedA, ulong streamA, ulong seedB, ulong streamB)
    {
        var a = Fill(TestBackends.Cpu, seedA, streamA, StatN);
        var b = Fill(TestBackends.Cpu, seedB, streamB, StatN);
        double ma = a.Average(x => (double)x), mb = b.Average(x => (double)x);
        double cov = 0, va = 0, vb = 0;
        for (int i = 0; i < StatN; i++)
        {
            cov += (a[i] - ma) * (b[i] - mb);
            va += (a[i] - ma) * (a[i] - ma);
            vb += (b[i] - mb) * (b[i] - mb);
        }
        AssertWithin(cov / Math.Sqrt(va * vb), 0, 5 / Math.Sqrt(StatN), $"correlation of ({seedA}, {streamA}) and ({seedB}, {streamB})");
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void Dropout_forward_and_backward_match_the_reference_and_backward_accumulates(Dim length, byte pByte, int seed)
    {
        var rng = new Random(seed);
        int n = length + 17;
        float p = pByte / 256f;
        var (s, stream, offset) = RandomKey(rng);
        var x = Numerics.RandomFloats(rng, n);
        var g = Numerics.RandomFloats(rng, n);
        var dxStart = Numerics.RandomFloats(rng, n);
        var results = new List<(float[], float[])>();
        foreach (var backend in TestBackends.All)
        {
            string ctx = $"on {backend.Name}, seed {seed}, n {n}, p {p}";
            using var dx = backend.Upload<float>(x);
            using var y = Numerics.Poisoned(backend, n);
            using var dg = backend.Upload<float>(g);
            using var grad = backend.Upload<float>(dxStart);
            backend.DropoutForward(dx, p, s, stream, offset, y);
            backend.DropoutBackward(dg, p, s, stream, offset, grad);
            var (yv, gv) = (y.ToArray(), grad.ToArray());
            Numerics.AssertClose(RngReference.DropoutForward(x, p, s, stream, offset), yv, 1e-6, $"DropoutForward {ctx}");
            Numerics.AssertClose(RngReference.DropoutBackward(g, p, s, stream, offset, dxStart), gv, 1e-6, $"DropoutBackward {ctx}");
            results.Add((yv, gv));
        }
        AssertBits(results[0].Item1, results[1].Item1, $"DropoutForward cpu vs ilgpu, seed {seed}");
        // Backward accumulates dx += dy·scale: the same positions on every backend, but CUDA's ptxas contracts the
        // multiply-add into one fma (found on an H200 by scripts/gpu-check.sh), so the sums may differ by that one
        // rounding. Same updated positions, values within one rounding of each other.
        AssertSameUpdates(dxStart, results[0].Item2, results[1].Item2, $"DropoutBackward cpu vs ilgpu, seed {seed}");
    }

    private static void AssertSameUpdates(float[] start, float[] a, float[] b, string context)
    {
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
        {
            bool updatedA = BitConverter.SingleToUInt32Bits(a[i]) != BitConverter.SingleToUInt32Bits(start[i]);
            bool updatedB = BitConverter.SingleToUInt32Bits(b[i]) != BitConverter.SingleToUInt32Bits(start[i]);
            if (updatedA != updatedB || Math.Abs(a[i] - b[i]) > 2.5e-7 * (Math.Abs(a[i]) + Math.Abs(start[i]) + Math.Abs(a[i] - start[i])))
            {
                throw new XunitException(string.Format(CultureInfo.InvariantCulture,
                    "{0}: index {1}: {2:R} vs {3:R} (from {4:R}).", context, i, a[i], b[i], start[i]));
            }
        }
    }

    [Theory]
    [InlineData(0.1f)]
    [InlineData(0.5f)]
    [InlineData(0.9f)]
    public void Dropout_keeps_a_fraction_one_minus_p(float p)
    {
        var backend = TestBackends.Cpu;
        using var x = backend.Full(StatN, 1f);
        using var y = backend.Allocate<float>(StatN);
        backend.DropoutForward(x, p, 42, 3, 0, y);
        double kept = y.ToArray().Count(v => v != 0) / (double)StatN;
        AssertWithin(kept, 1 - p, 5 * Math.Sqrt(p * (1 - p) / StatN), $"kept fraction at p {p}");
    }

    [Fact]
    public void Reference_dropout_backward_matches_finite_differences_of_the_forward()
    {
        var rng = new Random(11);
        const int n = 64;
        const float p = 0.3f;
        var x = Numerics.RandomFloats(rng, n);
        var w = Numerics.RandomFloats(rng, n);
        double Loss(float[] v) => RngReference.DropoutForward(v, p, 9, 1, 5).Select((y, i) => y * w[i]).Sum();
        var grad = RngReference.DropoutBackward(w, p, 9, 1, 5, new float[n]);
        for (int i = 0; i < n; i++)
        {
            const float h = 1e-2f;
            var plus = (float[])x.Clone();
            var minus = (float[])x.Clone();
            plus[i] += h;
            minus[i] -= h;
            double fd = (Loss(plus) - Loss(minus)) / ((double)plus[i] - minus[i]);
            AssertWithin(grad[i], fd, 1e-9 + 1e-6 * Math.Abs(fd), $"d loss / d x[{i}]");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Dropout_rejects_p_outside_0_1_and_mismatched_lengths(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = backend.Allocate<float>(10);
        using var y = backend.Allocate<float>(10);
        using var shortY = backend.Allocate<float>(9);
        foreach (float p in new[] { 1f, -0.1f, float.NaN, 2f })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.DropoutForward(x, p, 1, 0, 0, y));
            Assert.Contains("DropoutForward: 'p' must be in [0, 1)", e.Message);
            Assert.Throws<ArgumentOutOfRangeException>(() => backend.DropoutBackward(x, p, 1, 0, 0, y));
        }
        var m = Assert.Throws<ArgumentException>(() => backend.DropoutForward(x, 0.5f, 1, 0, 0, shortY));
        Assert.Contains("'y' has 9 elements but shape (10) needs 10", m.Message);
        var b = Assert.Throws<ArgumentException>(() => backend.DropoutBackward(x, 0.5f, 1, 0, 0, shortY));
        Assert.Contains("'dx' has 9 elements", b.Message);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Fills_reject_a_negative_offset_bad_parameters_and_a_null_buffer(string name)
    {
        var backend = TestBackends.Get(name);
        using var f = backend.Allocate<float>(4);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.FillUniform(1, 0, -1, f));
        Assert.Contains("FillUniform: 'offset' must be non-negative but was -1", e.Message);
        Assert.Contains("'std' must be finite", Assert.Throws<ArgumentOutOfRangeException>(
            () => backend.FillNormal(1, 0, 0, f, 0f, float.NaN)).Message);
        Assert.Throws<ArgumentNullException>(() => backend.FillUniform(1, 0, 0, (DeviceBuffer<double>)null!));
    }

    private static (ulong Seed, ulong Stream, long Offset) RandomKey(Random rng)
    {
        ulong seed = (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 33);
        ulong stream = (ulong)rng.Next(0, 4) << (rng.Next(0, 2) * 40);
        // Offsets near 2³² make the low counter word wrap inside a SIMD vector (the scalar fallback path).
        long offset = rng.Next(0, 3) switch
        {
            0 => 0,
            1 => rng.Next(0, 1000),
            _ => (1L << 32) - rng.Next(1, 40),
        };
        return (seed, stream, offset);
    }

    private static float[] Fill(Backend backend, ulong seed, ulong stream, int n)
    {
        using var f = backend.Allocate<float>(n);
        backend.FillUniform(seed, stream, 0, f);
        return f.ToArray();
    }

    private static float[][] FillAll(Backend backend, int n)
    {
        using var u = backend.Allocate<float>(n);
        using var d = backend.Allocate<double>(n);
        using var z = backend.Allocate<float>(n);
        using var y = backend.Full(n, 1f);
        backend.FillUniform(7, 3, (1L << 32) - 1000, u);
        backend.FillUniform(7, 3, 5, d);
        backend.FillNormal(7, 3, 5, z);
        backend.DropoutForward(z, 0.25f, 8, 1, 0, y);
        // Doubles travel as their two 32-bit halves so one bitwise comparison covers every output.
        var halves = d.ToArray().SelectMany(v => new[] { (uint)BitConverter.DoubleToUInt64Bits(v), (uint)(BitConverter.DoubleToUInt64Bits(v) >> 32) })
            .Select(BitConverter.UInt32BitsToSingle).ToArray();
        return [u.ToArray(), halves, z.ToArray(), y.ToArray()];
    }

    private static void AssertBits(float[] expected, float[] actual, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
            {
                throw new XunitException(string.Format(CultureInfo.InvariantCulture,
                    "{0}: index {1}: expected {2:R}, got {3:R}.", context, i, expected[i], actual[i]));
            }
        }
    }

    private static void AssertBits(double[] expected, double[] actual, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.DoubleToUInt64Bits(expected[i]) != BitConverter.DoubleToUInt64Bits(actual[i]))
            {
                throw new XunitException(string.Format(CultureInfo.InvariantCulture,
                    "{0}: index {1}: expected {2:R}, got {3:R}.", context, i, expected[i], actual[i]));
            }
        }
    }

    private static void AssertWithin(double actual, double expected, double tolerance, string what)
    {
        if (!(Math.Abs(actual - expected) <= tolerance))
        {
            throw new XunitException(string.Format(CultureInfo.InvariantCulture,
                "{0}: {1:R} differs from {2:R} by more than {3:E2}.", what, actual, expected, tolerance));
        }
    }

    /// <summary>Kolmogorov–Smirnov: D = sup |F_n − F| against the critical value 1.95/√n at α = 0.001.</summary>
    private static void AssertKs(double[] sample, Func<double, double> cdf, string what)
    {
        var x = (double[])sample.Clone();
        Array.Sort(x);
        int n = x.Length;
        double d = 0;
        for (int i = 0; i < n; i++)
        {
            double f = cdf(x[i]);
            d = Math.Max(d, Math.Max((i + 1.0) / n - f, f - (double)i / n));
        }
        AssertWithin(d, 0, 1.95 / Math.Sqrt(n), $"KS statistic of {what} (n {n})");
    }

    /// <summary>Complementary error function, Chebyshev fit with fractional error below 1.2e-7 (Numerical Recipes).</summary>
    private static double Erfc(double x)
    {
        double z = Math.Abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
