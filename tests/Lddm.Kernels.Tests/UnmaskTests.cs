using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Lddm.Kernels.Tests;

public sealed class UnmaskTests
{
    /// <summary>V = K + 1: tiny, char-level (28), around the 32 chunks of the canonical layout (33, 34, 65) and wider (1025).</summary>
    private static readonly int[] s_vocabs = [2, 3, 17, 28, 33, 34, 65, 100, 130, 1025, 2100, 1090];

    /// <summary>(α_t, α_s) pairs with α_s ≥ α_t: an early step, a late one, a no-op (a = 0) and α_s = 1 (a = 1).</summary>
    private static readonly (double T, double S)[] s_alphas = [(0.0, 0.1), (0.3, 0.7), (0.5, 0.5), (0.9, 1.0), (1e-4, 0.9999)];

    private static readonly float[] s_temperatures = [0.3f, 1f, 2.5f];

    private static readonly UnmaskMode[] s_modes = [UnmaskMode.Posterior, UnmaskMode.Fill, UnmaskMode.Argmax];

    /// <summary>About half the rows masked; the MASK logit is NaN (never read); some rows all −∞ and some entries −∞.</summary>
    private static (float[] Logits, int[] Tokens) Batch(int seed, int rows, int vocab)
    {
        var rng = new Random(seed);
        int k = vocab - 1;
        var logits = Numerics.RandomFloats(rng, rows * vocab, 4f);
        var tokens = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            int kind = rng.Next(8);
            for (int j = 0; j < k; j++)
            {
                if (kind == 0 || (kind == 1 && rng.Next(3) == 0))
                {
                    logits[r * vocab + j] = float.NegativeInfinity;
                }
            }
            logits[r * vocab + k] = float.NaN;
            tokens[r] = rng.Next(2) == 0 ? k : rng.Next(k);
        }
        return (logits, tokens);
    }

    private static int[] Run(Backend backend, float[] logits, int[] tokens, int rows, int vocab, double alphaT,
        double alphaS, float temperature, ulong seed, long offset, UnmaskMode mode)
    {
        using var bl = backend.Upload<float>(logits);
        using var bt = backend.Upload<int>(tokens);
        backend.UnmaskStep(bl, bt, rows, vocab, alphaT, alphaS, temperature, seed, 5, offset, mode);
        return bt.ToArray();
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 60)]
    public void Both_backends_give_the_reference_tokens_and_never_touch_carry_over_rows(SmallDim anyRows, int pick, int seed)
    {
        uint p = (uint)pick;
        int vocab = s_vocabs[p % s_vocabs.Length];
        var (alphaT, alphaS) = s_alphas[p / 10 % s_alphas.Length];
        float temperature = s_temperatures[p / 50 % s_temperatures.Length];
        var mode = s_modes[(uint)seed % 3];
        int k = vocab - 1;
        long offset = (long)(p % 1000) << 20;
        foreach (var backend in TestBackends.All)
        {
            int rows = backend.Kind == BackendKind.IlgpuCpu ? Math.Min(anyRows, 8) : anyRows;
            var (logits, tokens) = Batch(seed, rows, vocab);
            var got = Run(backend, logits, tokens, rows, vocab, alphaT, alphaS, temperature, (ulong)seed, offset, mode);
            var expected = UnmaskReference.Step(logits, tokens, rows, vocab, alphaT, alphaS, temperature, (ulong)seed, 5,
                offset, mode);
            string context = $"UnmaskStep on {backend.Name}, seed {seed}, (rows {rows}, vocab {vocab}), " +
                $"α_t {alphaT}, α_s {alphaS}, τ {temperature}, {mode}";
            for (int r = 0; r < rows; r++)
            {
                if (tokens[r] != k && got[r] != tokens[r])
                {
                    throw new XunitException($"{context}: carry-over row {r} changed from {tokens[r]} to {got[r]}.");
                }
                if (got[r] != expected[r])
                {
                    throw new XunitException($"{context}: row {r}: token {got[r]}, reference {expected[r]}.");
                }
                if (mode != UnmaskMode.Posterior && got[r] == k)
                {
                    throw new XunitException($"{context}: row {r} is still MASK after {mode}.");
                }
            }
        }
    }

    [Property(MaxTest = 6)]
    public void Unmask_rate_is_a_and_unmasked_tokens_follow_the_softmax(int seed)
    {
        const int vocab = 7;
        var (alphaT, alphaS) = s_alphas[(uint)seed % 2];
        float temperature = s_temperatures[(uint)seed / 2 % 3];
        var row = Numerics.RandomFloats(new Random(seed), vocab, 2f);
        var p = UnmaskReference.Probabilities(row.AsSpan(0, vocab - 1), temperature);
        double a = (alphaS - alphaT) / (1 - alphaT);
        foreach (var backend in TestBackends.All)
        {
            int rows = backend.Kind == BackendKind.IlgpuCpu ? 1500 : 20000;
            var got = Run(backend, Tile(row, rows), Enumerable.Repeat(vocab - 1, rows).ToArray(), rows, vocab,
                alphaT, alphaS, temperature, (ulong)seed, 0, UnmaskMode.Posterior);
            string context = $"UnmaskStep on {backend.Name}, seed {seed}, {rows} rows, α_t {alphaT}, α_s {alphaS}, τ {temperature}";
            var q = p.Select(v => v * a).Append(1 - a).ToArray();
            AssertFrequencies(got, q, rows, context);
        }
    }

    [Property(MaxTest = 4)]
    public void Fill_draws_from_the_softmax_and_a_small_temperature_concentrates_on_the_argmax(int seed)
    {
        const int vocab = 12;
        var row = Numerics.RandomFloats(new Random(seed), vocab, 2f);
        foreach (var backend in TestBackends.All)
        {
            int rows = backend.Kind == BackendKind.IlgpuCpu ? 1000 : 10000;
            var masked = Enumerable.Repeat(vocab - 1, rows).ToArray();
            var logits = Tile(row, rows);
            string context = $"Fill on {backend.Name}, seed {seed}, {rows} rows";
            var got = Run(backend, logits, masked, rows, vocab, 0.2, 0.4, 1f, (ulong)seed, 0, UnmaskMode.Fill);
            AssertFrequencies(got, [.. UnmaskReference.Probabilities(row.AsSpan(0, vocab - 1), 1.0), 0.0], rows, context);
            // τ = 1e-3: every other token is at least e^(−gap/τ) less likely; the top one should take (almost) all.
            var cold = Run(backend, logits, masked, rows, vocab, 0.2, 0.4, 1e-3f, (ulong)seed, 0, UnmaskMode.Fill);
            var pCold = UnmaskReference.Probabilities(row.AsSpan(0, vocab - 1), 1e-3);
            int top = UnmaskReference.Argmax(row.AsSpan(0, vocab - 1));
            int hits = cold.Count(t => t == top);
            double miss = 1 - pCold[top];
            Assert.True(rows - hits <= 5 * Math.Sqrt(rows * miss) + rows * miss + 1,
                $"{context}, τ 1e-3: argmax {top} (p {pCold[top]:R}) drawn {hits} times.");
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Fill_and_alpha_s_one_leave_no_mask_and_argmax_picks_the_lowest_top_logit(string name)
    {
        var backend = TestBackends.Get(name);
        const int rows = 9, vocab = 40, k = vocab - 1;
        var (logits, _) = Batch(11, rows, vocab);
        logits[2 * vocab + 3] = logits[2 * vocab + 30] = 100f; // a tie: the lowest id wins
        var masked = Enumerable.Repeat(k, rows).ToArray();
        foreach (var (mode, alphaS) in new[] { (UnmaskMode.Fill, 0.3), (UnmaskMode.Posterior, 1.0) })
        {
            var got = Run(backend, logits, masked, rows, vocab, 0.3, alphaS, 1f, 3, 0, mode);
            Assert.All(got, t => Assert.InRange(t, 0, k - 1));
        }
        var greedy = Run(backend, logits, masked, rows, vocab, 0.3, 0.3, 1f, 3, 0, UnmaskMode.Argmax);
        for (int r = 0; r < rows; r++)
        {
            Assert.Equal(UnmaskReference.Argmax(logits.AsSpan(r * vocab, k)), greedy[r]);
        }
        Assert.Equal(3, greedy[2]);
        var none = Run(backend, logits, masked, rows, vocab, 0.3, 0.3, 1f, 3, 0, UnmaskMode.Posterior);
        Assert.All(none, t => Assert.Equal(k, t)); // α_s = α_t: a = 0, nothing unmasks
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Bad_arguments_are_rejected_with_the_argument_and_values(string name)
    {
        var backend = TestBackends.Get(name);
        const int rows = 3, vocab = 5;
        using var logits = backend.Full(rows * vocab, 0f);
        using var tokens = backend.Upload<int>([4, 2, 4]);
        void Step(DeviceBuffer<float> l, DeviceBuffer<int> t, int r = rows, int v = vocab, double at = 0.2, double s = 0.5,
            float tau = 1f, UnmaskMode mode = UnmaskMode.Posterior) => backend.UnmaskStep(l, t, r, v, at, s, tau, 1, 0, 0, mode);
        void Rejects<TE>(Action call, string text) where TE : Exception => Assert.Contains(text, Assert.Throws<TE>(call).Message);
        Rejects<ArgumentOutOfRangeException>(() => Step(logits, tokens, r: 0), "'rows' must be positive but was 0");
        Rejects<ArgumentOutOfRangeException>(() => Step(logits, tokens, v: 1), "'vocab'");
        Rejects<ArgumentException>(() => Step(logits, tokens, v: 6), "'logits' has 15 elements but shape (rows 3, vocab 6) needs 18");
        using var shortTokens = backend.Upload<int>([4, 4]);
        Rejects<ArgumentException>(() => Step(logits, shortTokens), "'tokens' has 2 elements but shape (rows 3) needs 3");
        Rejects<ArgumentNullException>(() => Step(logits, null!), "'tokens' is null");
        Rejects<ArgumentOutOfRangeException>(() => Step(logits, tokens, at: 0.6, s: 0.5), "'alphaS' = 0.5 must be ≥ 'alphaT' = 0.6");
        Rejects<ArgumentOutOfRangeException>(() => Step(logits, tokens, s: 1.5), "'alphaS' must be in [0, 1] but was 1.5");
        Rejects<ArgumentOutOfRangeException>(() => Step(logits, tokens, at: double.NaN), "'alphaT' must be in [0, 1] but was NaN");
        Rejects<ArgumentOutOfRangeException>(() => Step(logits, tokens, at: 1, s: 1), "'alphaT' must be < 1 in Posterior mode");
        Step(logits, tokens, at: 1, s: 1, mode: UnmaskMode.Fill); // the final step needs no posterior
        foreach (float tau in new[] { 0f, -1f, float.NaN, float.PositiveInfinity })
        {
            Rejects<ArgumentOutOfRangeException>(() => Step(logits, tokens, tau: tau), "'temperature' must be positive and finite");
        }
        using var badHigh = backend.Upload<int>([4, 5, 0]);
        Rejects<ArgumentOutOfRangeException>(() => Step(logits, badHigh), "tokens[1] = 5 is not a token id in [0, 4]");
        using var badLow = backend.Upload<int>([4, 0, -1]);
        Rejects<ArgumentOutOfRangeException>(() => Step(logits, badLow), "tokens[2] = -1");
        Rejects<ArgumentOutOfRangeException>(() => Step(logits, tokens, mode: (UnmaskMode)7), "unknown mode 7");
        using var shortKeep = backend.Upload<int>([0, 1]);
        Rejects<ArgumentException>(() => backend.UnmaskStep(logits, tokens, rows, vocab, 0.2, 0.5, 1f, 1, 0, 0, UnmaskMode.Posterior, shortKeep),
            "'keep' has 2 elements but shape (rows 3) needs 3");
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 40)]
    public void A_carry_over_mask_freezes_its_rows_masked_or_not_and_leaves_the_others_draws_unchanged(SmallDim anyRows, int pick, int seed)
    {
        uint p = (uint)pick;
        int vocab = s_vocabs[p % s_vocabs.Length];
        var (alphaT, alphaS) = s_alphas[p / 10 % s_alphas.Length];
        var mode = s_modes[(uint)seed % 3];
        int k = vocab - 1;
        long offset = (long)(p % 1000) << 20;
        foreach (var backend in TestBackends.All)
        {
            int rows = backend.Kind == BackendKind.IlgpuCpu ? Math.Min(anyRows, 8) : anyRows;
            var (logits, tokens) = Batch(seed, rows, vocab);
            var rng = new Random(seed ^ 0x5EED);
            var keep = Enumerable.Range(0, rows).Select(_ => rng.Next(3) == 0 ? 1 + rng.Next(5) : 0).ToArray(); // any nonzero keeps
            using var bl = backend.Upload<float>(logits);
            using var bt = backend.Upload<int>(tokens);
            using var bk = backend.Upload<int>(keep);
            backend.UnmaskStep(bl, bt, rows, vocab, alphaT, alphaS, 1f, (ulong)seed, 5, offset, mode, bk);
            var got = bt.ToArray();
            var expected = UnmaskReference.Step(logits, tokens, rows, vocab, alphaT, alphaS, 1f, (ulong)seed, 5, offset, mode, keep);
            var free = UnmaskReference.Step(logits, tokens, rows, vocab, alphaT, alphaS, 1f, (ulong)seed, 5, offset, mode);
            using var bz = backend.Upload<int>(new int[rows]);
            using var bt0 = backend.Upload<int>(tokens);
            backend.UnmaskStep(bl, bt0, rows, vocab, alphaT, alphaS, 1f, (ulong)seed, 5, offset, mode, bz);
            var zeroKeep = bt0.ToArray();
            string context = $"UnmaskStep with keep on {backend.Name}, seed {seed}, (rows {rows}, vocab {vocab}), α_t {alphaT}, α_s {alphaS}, {mode}";
            for (int r = 0; r < rows; r++)
            {
                if (keep[r] != 0 && got[r] != tokens[r])
                {
                    throw new XunitException($"{context}: kept row {r} (token {tokens[r]}, MASK = {k}) changed to {got[r]}.");
                }
                if (got[r] != expected[r])
                {
                    throw new XunitException($"{context}: row {r}: token {got[r]}, reference {expected[r]}.");
                }
                if (keep[r] == 0 && got[r] != free[r])
                {
                    throw new XunitException($"{context}: free row {r} drew {got[r]} but {free[r]} without a mask.");
                }
                if (zeroKeep[r] != free[r])
                {
                    throw new XunitException($"{context}: an all-zero mask changed row {r}: {zeroKeep[r]} vs {free[r]} without one.");
                }
            }
        }
    }

    [Fact]
    public void Canonical_exp_is_within_a_few_ulp_of_the_library_exp_and_zero_below_the_floor()
    {
        var rng = new Random(17);
        double worst = 0;
        for (int i = 0; i < 200000; i++)
        {
            double x = i < 100000 ? -rng.NextDouble() : -rng.NextDouble() * 708;
            double e = Math.Exp(x);
            worst = Math.Max(worst, Math.Abs(UnmaskRule.Exp(x) - e) / e);
        }
        Assert.True(worst < 1e-15, $"worst relative error {worst:E3}");
        Assert.Equal(1.0, UnmaskRule.Exp(0.0));
        Assert.Equal(0.0, UnmaskRule.Exp(-709.0));
        Assert.Equal(0.0, UnmaskRule.Exp(double.NegativeInfinity));
        Assert.True(double.IsNaN(UnmaskRule.Exp(double.NaN)));
    }

    private static float[] Tile(float[] row, int rows) => Enumerable.Range(0, rows).SelectMany(_ => row).ToArray();

    /// <summary>Every category's count within 5 standard errors (+1) of n·q; zero-probability ones never drawn.</summary>
    private static void AssertFrequencies(int[] drawn, double[] q, int n, string context)
    {
        var counts = new int[q.Length];
        foreach (int t in drawn)
        {
            counts[t]++;
        }
        for (int j = 0; j < q.Length; j++)
        {
            double expected = n * q[j], se = Math.Sqrt(n * q[j] * (1 - q[j]));
            if (!(Math.Abs(counts[j] - expected) <= 5 * se + 1) || (q[j] == 0 && counts[j] != 0))
            {
                throw new XunitException(
                    $"{context}: category {j} drawn {counts[j]} times, expected {expected:F1} ± {5 * se:F1} (q = {q[j]:R}).");
            }
        }
    }
}
