using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Training.Tests.Mdlm;

public sealed class MdlmSamplerTests(ITestOutputHelper output)
{
    private const int K = 5, L = 8;

    /// <summary>Parameters in ±0.2 keep the logits O(1), so draws depend on the seed (±0.5 makes them near one-hot).</summary>
    private const float Flat = 0.2f;

    private sealed class Steps : IProgress<int>
    {
        public List<int> Seen { get; } = [];

        public void Report(int value) => Seen.Add(value);
    }

    [Fact]
    public void NoMaskRemainsAndEveryIdIsARealToken()
    {
        using var model = TinyMdlm.Create(TestBackends.Cpu, K, L, seed: 21, Flat);
        foreach (var mode in new[] { UnmaskMode.Fill, UnmaskMode.Argmax })
        {
            var steps = new Steps();
            var x = new MdlmSampler(MaskingSchedule.LogLinear(), mode).Sample(model, count: 3, L, steps: 4, seed: 7, progress: steps);
            Assert.Equal(3 * L, x.Length);
            Assert.All(x, v => Assert.InRange(v, 0, K - 1));
            Assert.Equal(Enumerable.Range(1, 4 + 1), steps.Seen); // N steps and the final one
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SameSeedGivesIdenticalSamplesOnBothBackends(bool timeConditioning)
    {
        var sampler = new MdlmSampler(MaskingSchedule.Linear());
        var results = TestBackends.All.Select(backend =>
        {
            using var model = TinyMdlm.Create(backend, K, L, seed: 22, Flat);
            return sampler.Run(model, count: 3, L, steps: 4, seed: 42, temperature: 0.8f, timeConditioning);
        }).ToArray();
        Assert.Equal(results[0].Tokens, results[1].Tokens);
        Assert.All(results[1].Tokens, v => Assert.InRange(v, 0, K - 1)); // no MASK left on the simulator either
        Assert.Equal(results[0].Nfe, results[1].Nfe);

        using var cpuModel = TinyMdlm.Create(TestBackends.Cpu, K, L, seed: 22, Flat);
        var other = sampler.Sample(cpuModel, count: 3, L, steps: 4, seed: 43, temperature: 0.8f, timeConditioning);
        output.WriteLine($"seed 42: {string.Join(",", results[0].Tokens)}; seed 43: {string.Join(",", other)}");
        Assert.NotEqual(results[0].Tokens, other); // the seed matters (24 ids over 5 tokens: a tie is ~impossible)
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(L)]
    [InlineData(40)]
    public void CarryOverNeverChangesAnUnmaskedToken(int steps)
    {
        using var model = TinyMdlm.Create(TestBackends.Cpu, K, L, seed: 23, Flat);
        const int count = 16;
        var before = Enumerable.Repeat(K, count * L).ToArray();
        int calls = 0;
        var result = new MdlmSampler(MaskingSchedule.LogLinear()).Run(model, count, L, steps, seed: 3, afterStep: (k, x) =>
        {
            Assert.Equal(calls++, k);
            for (int i = 0; i < x.Length; i++)
            {
                Assert.True(before[i] == K || before[i] == x[i], $"step {k}: position {i} changed {before[i]} → {x[i]} after it was unmasked.");
                Assert.InRange(x[i], 0, K);
            }
            x.CopyTo(before, 0);
        });
        Assert.Equal(steps + 1, calls);
        Assert.Equal(before, result.Tokens);
        Assert.DoesNotContain(K, result.Tokens);
        Assert.InRange(result.Nfe, 1, steps + 1);
    }

    /// <summary>
    /// Each still-masked position unmasks at step t → s with probability a = (α_s − α_t)/(1 − α_t), whatever the
    /// logits: over 512 sequences the observed fraction per step is within 5 binomial standard errors of a.
    /// </summary>
    [Theory]
    [InlineData("loglinear", 4)]
    [InlineData("linear", 6)]
    public void UnmaskedFractionPerStepFollowsThePosterior(string scheduleName, int steps)
    {
        var schedule = scheduleName == "linear" ? MaskingSchedule.Linear() : MaskingSchedule.LogLinear();
        using var model = TinyMdlm.Create(TestBackends.Cpu, K, L, seed: 24, Flat);
        const int count = 512;
        var grid = MdlmSampler.TimeGrid(steps);
        var masked = Enumerable.Repeat(count * L, 1).ToList(); // masked count before step 0
        new MdlmSampler(schedule).Run(model, count, L, steps, seed: 5, afterStep: (k, x) => masked.Add(x.Count(v => v == K)));
        for (int k = 0; k < steps; k++)
        {
            double a = (schedule.Alpha(grid[k + 1]) - schedule.Alpha(grid[k])) / (1 - schedule.Alpha(grid[k]));
            int n = masked[k], unmasked = masked[k] - masked[k + 1];
            double fraction = (double)unmasked / n, se = Math.Sqrt(Math.Max(a * (1 - a), 1e-12) / n);
            output.WriteLine($"{scheduleName} step {k}: {unmasked}/{n} = {fraction:F4} unmasked, posterior a = {a:F4}, |Δ|/SE = {Math.Abs(fraction - a) / se:F2}");
            Assert.True(Math.Abs(fraction - a) <= 5 * se + 1.0 / n, $"{scheduleName} step {k}: fraction {fraction} vs a = {a} (SE {se}, n = {n}).");
        }
        Assert.Equal(0, masked[^1]);
    }

    /// <summary>
    /// With L = 2 and N = 64 most steps unmask nothing. The network is called at step 0 and at every step that follows a
    /// step which changed a token (and never for a final step with nothing left to fill); all other steps reuse logits.
    /// With time conditioning every step calls the network.
    /// </summary>
    [Fact]
    public void CachingSkipsTheNetworkOnlyWhenNothingChanged()
    {
        const int length = 2, steps = 64;
        using var model = TinyMdlm.Create(TestBackends.Cpu, K, L, seed: 25, Flat);
        var sampler = new MdlmSampler(MaskingSchedule.LogLinear());
        var snapshots = new List<int[]> { Enumerable.Repeat(K, length).ToArray() };
        var cached = sampler.Run(model, 1, length, steps, seed: 8, afterStep: (_, x) => snapshots.Add((int[])x.Clone()));
        int expectedNfe = 0, executed = 0;
        for (int k = 0; k <= steps; k++)
        {
            if (k == steps && !snapshots[k].Contains(K))
            {
                break; // the final fill is skipped when nothing is masked
            }
            executed++;
            expectedNfe += k == 0 || !snapshots[k].SequenceEqual(snapshots[k - 1]) ? 1 : 0;
        }
        output.WriteLine($"L = {length}, N = {steps}: {cached.Nfe} NFEs, {cached.CachedSteps} cached steps, {executed} steps run");
        Assert.Equal(expectedNfe, cached.Nfe);
        Assert.Equal(executed, cached.Nfe + cached.CachedSteps);
        Assert.True(cached.Nfe <= length + 1, $"{cached.Nfe} NFEs for {length} positions.");

        var timed = sampler.Run(model, 1, length, steps, seed: 8, timeConditioning: true);
        Assert.Equal(0, timed.CachedSteps);
        Assert.InRange(timed.Nfe, steps, steps + 1);
    }

    /// <summary>
    /// Identical rows (the all-MASK start, or one prompt for every sequence) share one network call: the denoiser sees
    /// a single row, and the samples equal those of the chain that evaluates every row (same seed), on both backends.
    /// Rows that differ, or a denoiser not declared row-independent, are evaluated whole.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void IdenticalRowsShareOneEvaluationAndSampleTheSame(bool timeConditioning, bool sharedPrompt)
    {
        // 7 rows: the doubling copies end with a partial one; 2 steps: half the positions are drawn from the shared logits.
        const int count = 7, steps = 2;
        var sampler = new MdlmSampler(MaskingSchedule.LogLinear());
        var template = Enumerable.Repeat(K, count * L).ToArray();
        if (sharedPrompt)
        {
            for (int r = 0; r < count; r++)
            {
                template[r * L] = 2;
                template[r * L + 1] = 0;
            }
        }
        foreach (var backend in TestBackends.All)
        {
            using var model = TinyMdlm.Create(backend, K, L, seed: 27);
            var rowsSeen = new Dictionary<bool, List<int>> { [false] = [], [true] = [] };
            var runs = new[] { false, true }.ToDictionary(share => share, share => sampler.RunChain(backend, model.Config.Vocab,
                (tokens, t) =>
                {
                    rowsSeen[share].Add(tokens.Shape[0]);
                    var times = Enumerable.Repeat(timeConditioning ? (float)t : 0f, tokens.Shape[0]).ToArray();
                    return model.Forward(tokens, times);
                },
                count, L, steps, seed: 9, temperature: 1f, timeConditioning, template: (int[])template.Clone(), rowsIndependent: share));
            output.WriteLine($"{backend.Name}: rows per call shared {string.Join(",", rowsSeen[true])}, whole {string.Join(",", rowsSeen[false])}");
            Assert.Equal(runs[false].Tokens, runs[true].Tokens);
            Assert.Equal(runs[false].Nfe, runs[true].Nfe);
            Assert.All(rowsSeen[false], rows => Assert.Equal(count, rows));
            Assert.Equal(1, rowsSeen[true][0]); // the first step: every row is the same
            Assert.All(rowsSeen[true].Skip(1), rows => Assert.Equal(count, rows)); // the rows differ after one draw
        }

        // Rows that differ from the start are never shared.
        template[3 * L + 4] = 1;
        using var cpuModel = TinyMdlm.Create(TestBackends.Cpu, K, L, seed: 27, Flat);
        var seen = new List<int>();
        sampler.RunChain(TestBackends.Cpu, cpuModel.Config.Vocab, (tokens, t) =>
        {
            seen.Add(tokens.Shape[0]);
            return cpuModel.Forward(tokens, new float[tokens.Shape[0]]);
        }, count, L, steps, seed: 9, temperature: 1f, timeConditioning: false, template: template, rowsIndependent: true);
        Assert.All(seen, rows => Assert.Equal(count, rows));
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        using var model = TinyMdlm.Create(TestBackends.Cpu, K, L, seed: 26, Flat);
        var sampler = new MdlmSampler(MaskingSchedule.LogLinear());
        Assert.Throws<ArgumentOutOfRangeException>(() => new MdlmSampler(MaskingSchedule.LogLinear(), UnmaskMode.Posterior));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(model, 1, L + 1, 4, seed: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(model, 0, L, 4, seed: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(model, 1, L, 0, seed: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(model, 1, L, 4, seed: 1, temperature: 0f));
    }

    [Fact]
    public void TimeGridIsLinspaceFromOneToTheFloor()
    {
        var grid = MdlmSampler.TimeGrid(4);
        Assert.Equal(5, grid.Length);
        Assert.Equal(1.0, grid[0]);
        Assert.Equal(MdlmSampler.TimeFloor, grid[^1]);
        for (int k = 1; k < grid.Length; k++)
        {
            Assert.True(Math.Abs(grid[k - 1] - grid[k] - (1 - MdlmSampler.TimeFloor) / 4) < 1e-15);
        }
    }
}
