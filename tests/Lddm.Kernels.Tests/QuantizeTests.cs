using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Lddm.Kernels.Tests;

public sealed class QuantizeTests
{
    private static (DeviceBuffer<int> Ids, DeviceBuffer<float> Sims) Nearest(Backend backend, float[] x, float[] cb, int rows, int codes, int dim)
    {
        using var dx = backend.Upload<float>(x);
        using var dcb = backend.Upload<float>(cb);
        var ids = backend.Full(rows, -7);
        var sims = Numerics.Poisoned(backend, rows);
        backend.NearestCode(dx, dcb, rows, codes, dim, ids, sims);
        return (ids, sims);
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 20)]
    public void NearestCode_matches_float64_brute_force_and_is_identical_on_both_backends(SmallDim anyRows, SmallDim anyCodes,
        SmallDim anyDim, int seed)
    {
        int codes = anyCodes, dim = anyDim;
        int rows = SoftmaxTests.SimulatorRows(TestBackends.IlgpuCpu, anyRows);
        var rng = new Random(seed);
        var x = Numerics.RandomFloats(rng, rows * dim, 3f);
        var cb = Numerics.RandomFloats(rng, codes * dim, (float)(0.1 + rng.NextDouble() * 5));
        var (expected, expectedSim, gap) = QuantizeReference.NearestCode(x, cb, rows, codes, dim);
        int[]? first = null;
        float[]? firstSim = null;
        foreach (var backend in TestBackends.All)
        {
            var (ids, sims) = Nearest(backend, x, cb, rows, codes, dim);
            using (ids)
            using (sims)
            {
                var got = ids.ToArray();
                var gotSim = sims.ToArray();
                string context = $"NearestCode on {backend.Name}, seed {seed}, (rows {rows}, codes {codes}, dim {dim})";
                for (int n = 0; n < rows; n++)
                {
                    // Only a float64 near-tie (far below float32 resolution) may legitimately pick another code.
                    if (got[n] != expected[n] && gap[n] > 1e-12)
                    {
                        throw new XunitException($"{context}: row {n} got code {got[n]}, brute force {expected[n]} (gap {gap[n]:G3}).");
                    }
                }
                Numerics.AssertClose(expectedSim, gotSim, 1e-6, context + " max similarity");
                if (first is null)
                {
                    (first, firstSim) = (got, gotSim);
                }
                else
                {
                    Assert.Equal(first, got);
                    Assert.Equal(firstSim, gotSim);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void NearestCode_breaks_exact_ties_to_the_lowest_index(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        int codes = 70, dim = 9, rows = 5;
        var rng = new Random(11);
        var cb = Numerics.RandomFloats(rng, codes * dim);
        // Code 66 is 2·code 3 and code 40 is code 3: three codes with exactly the same cosine to anything.
        for (int j = 0; j < dim; j++)
        {
            cb[66 * dim + j] = 2 * cb[3 * dim + j];
            cb[40 * dim + j] = cb[3 * dim + j];
            cb[69 * dim + j] = 0f; // a zero code: similarity 0
        }
        var x = new float[rows * dim];
        for (int j = 0; j < dim; j++)
        {
            x[0 * dim + j] = 0.5f * cb[3 * dim + j]; // points at the tied triple
            x[1 * dim + j] = 4f * cb[66 * dim + j];
            x[2 * dim + j] = 0f;                     // zero row: every similarity 0, lowest index wins
            x[3 * dim + j] = float.NaN;              // all similarities NaN: index 0, similarity NaN
            x[4 * dim + j] = -cb[3 * dim + j];       // points away: never the triple
        }
        var (ids, sims) = Nearest(backend, x, cb, rows, codes, dim);
        using (ids)
        using (sims)
        {
            var got = ids.ToArray();
            var s = sims.ToArray();
            Assert.Equal(3, got[0]);
            Assert.Equal(3, got[1]);
            Assert.Equal(0, got[2]);
            Assert.Equal(0f, s[2]);
            Assert.Equal(0, got[3]);
            Assert.True(float.IsNaN(s[3]));
            Assert.NotEqual(3, got[4]);
            Assert.NotEqual(40, got[4]);
            Assert.NotEqual(66, got[4]);
            Assert.Equal(1.0, s[0], 5);
        }
    }

    private sealed record EmaCase(float[] X, int[] Indices, float[] ClusterSize, float[] EmbedAvg, int Rows, int Codes, int Dim, double Decay)
    {
        public static EmaCase Random(int seed, int rows, int codes, int dim)
        {
            var rng = new Random(seed);
            var x = Numerics.RandomFloats(rng, rows * dim, 2f);
            // Skewed usage: some codes get many rows, some none.
            var ids = Enumerable.Range(0, rows).Select(_ => (int)(codes * Math.Pow(rng.NextDouble(), 2))).ToArray();
            var cs = Enumerable.Range(0, codes).Select(_ => (float)(rng.NextDouble() * 3)).ToArray();
            var ea = Numerics.RandomFloats(rng, codes * dim);
            return new EmaCase(x, ids, cs, ea, rows, codes, dim, rng.NextDouble() * 0.99);
        }
    }

    private static (float[] Cs, float[] Ea, float[] Cb) RunEma(Backend backend, EmaCase e, double epsilon = 1e-5)
    {
        using var x = backend.Upload<float>(e.X);
        using var ids = backend.Upload<int>(e.Indices);
        using var cs = backend.Upload<float>(e.ClusterSize);
        using var ea = backend.Upload<float>(e.EmbedAvg);
        using var cb = Numerics.Poisoned(backend, e.Codes * e.Dim);
        backend.CodebookEmaUpdate(x, ids, e.Rows, e.Codes, e.Dim, e.Decay, epsilon, cs, ea, cb);
        return (cs.ToArray(), ea.ToArray(), cb.ToArray());
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 15)]
    public void CodebookEmaUpdate_matches_the_float64_reference_and_is_identical_on_both_backends(SmallDim anyRows,
        SmallDim anyCodes, SmallDim anyDim, int seed)
    {
        var e = EmaCase.Random(seed, anyRows * 3, anyCodes, anyDim);
        var (cs, ea, cb) = QuantizeReference.EmaUpdate(e.X, e.Indices, e.Rows, e.Codes, e.Dim, e.Decay, 1e-5, e.ClusterSize, e.EmbedAvg);
        (float[] Cs, float[] Ea, float[] Cb)? first = null;
        foreach (var backend in TestBackends.All)
        {
            var got = RunEma(backend, e);
            string context = $"CodebookEmaUpdate on {backend.Name}, seed {seed}, (rows {e.Rows}, codes {e.Codes}, dim {e.Dim}), decay {e.Decay:R}";
            Numerics.AssertClose(cs, got.Cs, 1e-6, context + " clusterSize");
            Numerics.AssertClose(ea, got.Ea, 1e-6, context + " embedAvg");
            Numerics.AssertClose(cb, got.Cb, 1e-5, context + " codebook");
            if (first is { } f)
            {
                Assert.Equal(f.Cs, got.Cs);
                Assert.Equal(f.Ea, got.Ea);
                Assert.Equal(f.Cb, got.Cb);
            }
            first = got;
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Quantizer_kernels_reject_bad_arguments_with_one_clear_message(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        using var x = backend.Full(6, 1f);
        using var cb = backend.Full(9, 1f);
        using var ids = backend.Upload<int>([0, 5]);
        using var cs = backend.Full(3, 0f);
        using var ea = backend.Full(9, 0f);
        using var outCb = backend.Full(9, 0f);
        void Rejects<TE>(Action call, string text) where TE : Exception => Assert.Contains(text, Assert.Throws<TE>(call).Message);
        Rejects<ArgumentException>(() => backend.NearestCode(x, cb, 2, 3, 4, ids), "'x' has 6 elements but shape (rows 2, dim 4) needs 8");
        Rejects<ArgumentOutOfRangeException>(() => backend.NearestCode(x, cb, 2, 0, 3, ids), "'codes' must be positive");
        Rejects<ArgumentOutOfRangeException>(() => backend.CodebookEmaUpdate(x, ids, 2, 3, 3, 0.9, 1e-5, cs, ea, outCb),
            "indices[1] = 5 is not a code in [0, 3)");
        ids.CopyFrom([0, 2]);
        Rejects<ArgumentOutOfRangeException>(() => backend.CodebookEmaUpdate(x, ids, 2, 3, 3, 1.0, 1e-5, cs, ea, outCb),
            "'decay' must be in [0, 1)");
        Rejects<ArgumentOutOfRangeException>(() => backend.CodebookEmaUpdate(x, ids, 2, 3, 3, 0.9, 0, cs, ea, outCb),
            "'epsilon' must be positive");
    }
}
