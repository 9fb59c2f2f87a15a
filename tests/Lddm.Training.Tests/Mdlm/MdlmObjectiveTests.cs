using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Tests.Support;
using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Mdlm;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Training.Tests.Mdlm;

public sealed class MdlmObjectiveTests(ITestOutputHelper output)
{
    private const int K = 5, B = 3, L = 6;

    public static TheoryData<string, bool, bool> Cases => new()
    {
        { "cpu", true, false }, { "cpu", false, false }, { "cpu", true, true },
        { "ilgpu-cpu", false, true },
    };

    private static MdlmObjective Objective(bool elbo, bool timeConditioning = false) =>
        new(MaskingSchedule.LogLinear(), new TimeSampler(), new MdlmObjectiveConfig(elbo, timeConditioning));

    /// <summary>x₀ (B·L) uniform over the K real tokens.</summary>
    private static int[] CleanTokens(Random rng, int n) => [.. Enumerable.Range(0, n).Select(_ => rng.Next(K))];

    /// <summary>A crafted draw: the given times, each position masked with a fair coin (at least one per sequence).</summary>
    private static MdlmDraw Crafted(Random rng, int[] x0, double[] times)
    {
        var noisy = (int[])x0.Clone();
        for (int i = 0; i < noisy.Length; i++)
        {
            if (rng.Next(2) == 0 || i % L == 0)
            {
                noisy[i] = K;
            }
        }
        return new MdlmDraw(times, noisy, noisy.Count(v => v == K));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LossEqualsFloat64HandComputationOfTheNelbo(string backendName, bool elbo, bool timeConditioning)
    {
        var backend = TestBackends.Get(backendName);
        using var model = TinyMdlm.Create(backend, K, L, seed: 11);
        var rng = new Random(5);
        var x0 = CleanTokens(rng, B * L);
        var draw = Crafted(rng, x0, [0.05, 0.4, 0.93]);
        var objective = Objective(elbo, timeConditioning);

        var cond = draw.Times.Select(t => timeConditioning ? (float)t : 0f).ToArray();
        var logits = TinyMdlm.Logits(model, draw.Noisy, B, L, cond);
        double weighted = 0, used = 0;
        for (int i = 0; i < B * L; i++)
        {
            if (draw.Noisy[i] != K)
            {
                continue; // carry-over: log 1 = 0
            }
            double ce = TinyMdlm.CrossEntropy(logits, i, K + 1, x0[i]);
            double w = objective.Schedule.NelboWeight(draw.Times[i / L]);
            weighted += w * ce;
            used += (elbo ? w : 1) * ce;
        }
        weighted /= B * L;
        used /= B * L;

        using var tape = Tape.Begin();
        var loss = objective.Loss(model, x0, B, L, draw);
        double value = loss.Value.Item(), nelbo = loss.NelboPerToken();
        var deferred = ((Lddm.Training.Engine.IStepLoss)loss).DeferNelboPerToken(); // the training loop's path: read after the tape
        tape.Dispose();
        Assert.Equal(nelbo, deferred()); // the same bits, read from the device copy after the tape freed its tensors
        output.WriteLine($"{backendName} elbo={elbo} tc={timeConditioning}: loss {value:R} vs {used:R} (Δ {value - used:E2}); NELBO {nelbo:R} vs {weighted:R} (Δ {nelbo - weighted:E2})");
        Assert.True(Math.Abs(value - used) <= 1e-5 * (1 + Math.Abs(used)), $"{backendName}: loss {value} vs hand {used}.");
        Assert.True(Math.Abs(nelbo - weighted) <= 1e-5 * (1 + Math.Abs(weighted)), $"{backendName}: NELBO {nelbo} vs hand {weighted}.");
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void UnmaskedPositionsContributeExactlyZero(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        using var model = TinyMdlm.Create(backend, K, L, seed: 12);
        var rng = new Random(6);
        var x0 = CleanTokens(rng, B * L);
        var objective = Objective(elbo: true);
        using var tape = Tape.Begin();

        // No masks at all: every position is carry-over, so the loss and the NELBO are exactly zero.
        var clean = objective.Loss(model, x0, B, L, new MdlmDraw([0.2, 0.5, 0.8], (int[])x0.Clone(), 0));
        Assert.Equal(0f, clean.Value.Item());
        Assert.Equal(0.0, clean.NelboPerToken());

        // One masked position: the whole loss is that position's term alone, all B·L − 1 others add nothing.
        var noisy = (int[])x0.Clone();
        const int only = L + 2;
        noisy[only] = K;
        var draw = new MdlmDraw([0.2, 0.5, 0.8], noisy, 1);
        var logits = TinyMdlm.Logits(model, noisy, B, L, new float[B]);
        double expected = objective.Schedule.NelboWeight(0.5) * TinyMdlm.CrossEntropy(logits, only, K + 1, x0[only]) / (B * L);
        double value = objective.Loss(model, x0, B, L, draw).Value.Item();
        Assert.True(Math.Abs(value - expected) <= 1e-5 * expected, $"{backendName}: one-mask loss {value} vs that position's term {expected}.");
    }

    /// <summary>
    /// For one fixed x₀ (L = 4, K = 3) the NELBO per token is exactly
    /// (1/(1−ε)) ∫_ε^1 w(t) Σ_masks P(mask | t) Σ_{i masked} −log p_θ(x₀ⁱ | x_t) dt / L with t ~ U[ε, 1) as the
    /// objective draws it. The model has no time input, so each of the 2^L mask patterns needs one forward; the
    /// integrand is then a polynomial in t (degree ≤ L) and Gauss–Legendre with 8 nodes is exact.
    /// </summary>
    [Fact]
    public void MonteCarloMeanMatchesTheExactNelbo()
    {
        const int k = 3, l = 4, batch = 8, draws = 1500;
        var backend = TestBackends.Cpu;
        using var model = TinyMdlm.Create(backend, k, l, seed: 13, scale: 0.8f);
        int[] x = [2, 0, 1, 2];
        var weighted = Objective(elbo: true);
        var plain = Objective(elbo: false);
        var (exactNelbo, exactCe) = TinyMdlm.ExactNelbo(model, weighted, x, k);

        var x0 = Enumerable.Range(0, batch).SelectMany(_ => x).ToArray();
        var nelbo = new double[draws];
        var unweighted = new double[draws];
        var loss = new double[draws];
        for (int d = 0; d < draws; d++)
        {
            using var tape = Tape.Begin();
            var a = weighted.Loss(model, x0, batch, l, seed: 99, step: d);
            loss[d] = a.Value.Item();
            var b = plain.Loss(model, x0, batch, l, seed: 99, step: d);
            unweighted[d] = b.Value.Item();
            nelbo[d] = b.NelboPerToken();
        }
        AssertWithin3Se("loss (NELBO weights)", loss, exactNelbo);
        AssertWithin3Se("NelboPerToken (unweighted loss)", nelbo, exactNelbo);
        AssertWithin3Se("loss (unweighted CE)", unweighted, exactCe);
    }

    private void AssertWithin3Se(string what, double[] samples, double exact)
    {
        double mean = samples.Average();
        double se = Math.Sqrt(samples.Sum(v => (v - mean) * (v - mean)) / (samples.Length - 1) / samples.Length);
        output.WriteLine($"{what}: MC mean {mean:F5} ± {se:F5} (SE), exact {exact:F5}, |Δ|/SE = {Math.Abs(mean - exact) / se:F2}");
        Assert.True(Math.Abs(mean - exact) < 3 * se, $"{what}: MC mean {mean} ± {se} vs exact {exact}.");
    }

    [Fact]
    public void TheLossAndItsGradientReadNothingBackAndMatchTheDeviceCheckedUnstagedPath()
    {
        // The objective checks its ids on the host and uploads them staged; the reference below is the loss as it was
        // built before (ids read back by the embedding and the loss, uploads that wait, on a simulator without staging).
        int seed = Environment.TickCount;
        var rng = new Random(seed);
        var x0 = CleanTokens(rng, B * L);
        var objective = Objective(elbo: true);
        var draw = objective.Draw(x0, B, L, K, seed: (ulong)seed, step: rng.Next(1000));
        using var counted = IlgpuBackend.CreateCpuSimulator();
        using var unstaged = IlgpuBackend.CreateCpuSimulator(useWarpShuffles: true, useMmaMatmul: false, mmaBf16: false, stagedUploads: false);
        foreach (var (backend, reference) in new (Backend, Backend)[] { (TestBackends.Cpu, TestBackends.Cpu), (counted, unstaged) })
        {
            var (loss, grads, copies) = LossAndGradients(backend, model => objective.Loss(model, x0, B, L, draw).Value);
            var (expected, expectedGrads, referenceCopies) = LossAndGradients(reference, model =>
            {
                var used = draw.Times.SelectMany(t => Enumerable.Repeat((float)objective.Schedule.NelboWeight(t), L)).ToArray();
                var noisy = IntTensor.FromArray(model.Backend, draw.Noisy, B, L);
                var logits = model.Forward(noisy, new float[B]);
                var ce = SubsCrossEntropyOp.Apply(logits, IntTensor.FromArray(model.Backend, x0, B, L), noisy,
                    Tensor.FromArray(model.Backend, used, B, L));
                return MeanOp.Apply(ce);
            });
            Assert.Equal(expected, loss); // bit for bit
            foreach (var (name, g) in grads)
            {
                // The ILGPU embedding scatter-add is atomic: repeated tokens sum in a thread-dependent order.
                bool atomic = backend.Kind != BackendKind.Cpu && name.StartsWith("embed.", StringComparison.Ordinal);
                Assert.True(atomic || g.SequenceEqual(expectedGrads[name]), $"{backend.Name}: gradient of {name} differs (seed {seed})");
            }
            if (ReferenceEquals(backend, counted))
            {
                // Before: the embedding's id check and the loss's two, and every upload waited.
                Assert.Equal(3, referenceCopies.DeviceToHost);
                Assert.Equal(referenceCopies.HostToDevice + referenceCopies.DeviceToHost, referenceCopies.Synchronizations);
                // After: the same uploads (the batch, its draw, the time features, the seed gradient), and no wait.
                Assert.Equal(new BackendCounters(referenceCopies.Launches, 0, referenceCopies.HostToDevice, 0), copies);
            }
        }
    }

    /// <summary>The loss (float32 bits), every parameter's gradient by name, and the counters of the forward and backward.</summary>
    private static (float Loss, Dictionary<string, float[]> Grads, BackendCounters Copies) LossAndGradients(Backend backend,
        Func<DiT, Tensor> loss)
    {
        using var model = TinyMdlm.Create(backend, K, L, seed: 15);
        using (var warmUp = Tape.Begin())
        {
            loss(model).Backward(); // a first step loads the kernels and makes the RoPE tables resident
        }
        model.ZeroGrad();
        BackendCounters copies;
        float value;
        backend.Synchronize(); // as after the previous training step's read: the staging memory starts empty
        using (var tape = Tape.Begin())
        {
            var before = backend.Counters;
            var l = loss(model);
            l.Backward();
            copies = backend.Counters - before;
            value = l.ToArray()[0];
        }
        return (value, model.NamedParameters().ToDictionary(np => np.Name, np => np.Parameter.Grad!.ToArray()), copies);
    }

    [Fact]
    public void BadTokensAndShapesAreRejectedClearly()
    {
        var backend = TestBackends.Cpu;
        using var model = TinyMdlm.Create(backend, K, L, seed: 14);
        var objective = Objective(elbo: true);
        using var tape = Tape.Begin();
        var good = Enumerable.Range(0, B * L).Select(i => i % K).ToArray();

        foreach (int bad in new[] { K, K + 3, -1 })
        {
            var x0 = (int[])good.Clone();
            x0[L + 1] = bad;
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => objective.Loss(model, x0, B, L, seed: 1, step: 0));
            Assert.Contains($"token {bad} at sequence 1, position 1", e.Message, StringComparison.Ordinal);
        }
        var shortBatch = Assert.Throws<ArgumentException>(() => objective.Loss(model, good[1..], B, L, seed: 1, step: 0));
        Assert.Contains($"{B * L - 1} tokens", shortBatch.Message, StringComparison.Ordinal);

        var draw = objective.Draw(good, B, L, K, seed: 1, step: 0);
        var fewTimes = Assert.Throws<ArgumentException>(() => objective.Loss(model, good, B, L, draw with { Times = [0.5] }));
        Assert.Contains("1 times", fewTimes.Message, StringComparison.Ordinal);
        var shortNoisy = Assert.Throws<ArgumentException>(() => objective.Loss(model, good, B, L, draw with { Noisy = draw.Noisy[1..] }));
        Assert.Contains($"{B * L - 1} noisy tokens", shortNoisy.Message, StringComparison.Ordinal);
        var changed = (int[])draw.Noisy.Clone();
        int carry = Array.FindIndex(changed, v => v != K);
        changed[carry] = (changed[carry] + 1) % K;
        var notCarried = Assert.Throws<ArgumentException>(() => objective.Loss(model, good, B, L, draw with { Noisy = changed }));
        Assert.Contains("is neither MASK", notCarried.Message, StringComparison.Ordinal);
    }
}
