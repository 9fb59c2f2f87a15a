using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class CrossEntropyOpTests(ITestOutputHelper output)
{
    /// <summary>Logits (N, V) or (B, L, V), a mix of masked and carry-over rows; weights are a non-differentiable input.</summary>
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(SubsCrossEntropyOp))]
    public void Subs_cross_entropy_gradient_matches_finite_differences(SmallDim rowsDim, SmallDim vocabDim, int seed)
    {
        int len = 1 + rowsDim % 5, vocab = 2 + vocabDim % 7, mask = vocab - 1;
        int[] rowShape = (seed & 1) == 0 ? [len] : [2, len];
        int rows = rowShape.Aggregate(1, (p, d) => p * d);
        var rng = new Random(seed);
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(mask)).ToArray();
        var noisy = Enumerable.Range(0, rows).Select(_ => rng.Next(3) == 0 ? rng.Next(mask) : mask).ToArray();
        var logits = Numerics.RandomFloats(rng, rows * vocab, 3f);
        var weights = Enumerable.Range(0, rows).Select(_ => (float)(0.25 + rng.NextDouble() * 2)).ToArray();
        double worst = 0;
        foreach (var backend in TestBackends.All)
        {
            worst = Math.Max(worst, GradCheck.Run(backend, "SubsCrossEntropy", seed, [logits, weights], [[.. rowShape, vocab], rowShape],
                t => SubsCrossEntropyOp.Apply(t[0], IntTensor.FromArray(backend, targets, rowShape),
                    IntTensor.FromArray(backend, noisy, rowShape), t[1]),
                r => Reference(r[0], r[1], targets, noisy, vocab), differentiable: [true, false]));
        }
        output.WriteLine($"SubsCrossEntropyOp worst relative gradient error {worst:E2}");
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Carry_over_rows_give_exactly_zero_loss_and_gradient(string name)
    {
        var backend = TestBackends.Get(name);
        using var tape = Tape.Begin();
        // K = 2 real tokens, MASK = 2; row 0 masked, row 1 carried over.
        var logits = Tensor.FromArray(backend, [0f, 0f, 5f, 1f, 2f, 3f], 2, 3);
        logits.RequiresGrad = true;
        var loss = SubsCrossEntropyOp.Apply(logits, IntTensor.FromArray(backend, [1, 0], 2), IntTensor.FromArray(backend, [2, 1], 2),
            Tensor.FromArray(backend, [2f, 7f], 2));
        var l = loss.ToArray();
        Assert.Equal(2 * Math.Log(2), l[0], 5);
        Assert.Equal(0f, l[1]);
        loss.Backward([1f, 1f]);
        var g = logits.Grad!.ToArray();
        Assert.Equal(new[] { 1f, -1f, 0f, 0f, 0f, 0f }, g.Select(v => MathF.Round(v, 5)).ToArray());
    }

    [Fact]
    public void Subs_cross_entropy_rejects_bad_shapes_and_differentiable_weights()
    {
        var backend = TestBackends.Cpu;
        using var tape = Tape.Begin();
        var logits = Tensor.Zeros(backend, new Shape(2, 3, 5));
        var ids = IntTensor.FromArray(backend, [0, 0, 0], 3);
        var w = Tensor.Zeros(backend, new Shape(3));
        var e = Assert.Throws<ArgumentException>(() => SubsCrossEntropyOp.Apply(logits, ids, ids, w));
        Assert.Contains("(2, 3, 5)", e.Message);
        Assert.Contains("(3)", e.Message);
        var flat = Tensor.Zeros(backend, new Shape(3, 5));
        w.RequiresGrad = true;
        e = Assert.Throws<ArgumentException>(() => SubsCrossEntropyOp.Apply(flat, ids, ids, w));
        Assert.Contains("not differentiable", e.Message);
        w.RequiresGrad = false;
        Assert.Throws<ArgumentOutOfRangeException>(() => SubsCrossEntropyOp.Apply(flat, IntTensor.FromArray(backend, [0, 4, 0], 3), ids, w));
    }

    [Fact]
    public void Host_checked_ids_give_the_same_loss_and_gradient_and_are_never_read_back()
    {
        int seed = Environment.TickCount;
        var rng = new Random(seed);
        int rows = 1 + rng.Next(40), vocab = 2 + rng.Next(30), mask = vocab - 1;
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(mask)).ToArray();
        var noisy = Enumerable.Range(0, rows).Select(_ => rng.Next(2) == 0 ? mask : targets[rng.Next(rows)]).ToArray();
        var logits = Numerics.RandomFloats(rng, rows * vocab, 3f);
        var weights = Numerics.RandomFloats(rng, rows);
        // A dedicated simulator counts the copies (parallel tests use the shared ones).
        using var counted = IlgpuBackend.CreateCpuSimulator();
        foreach (var backend in TestBackends.All.Append(counted))
        {
            var (deviceChecked, readBack) = LossAndGradient(backend, logits, weights, vocab,
                b => (IntTensor.FromArray(b, targets, rows), IntTensor.FromArray(b, noisy, rows)));
            var (hostChecked, copies) = LossAndGradient(backend, logits, weights, vocab,
                b => (IntTensor.FromIds(b, targets, mask, rows), IntTensor.FromIds(b, noisy, vocab, rows)));
            Assert.True(deviceChecked.SequenceEqual(hostChecked), $"{backend.Name}: host-checked ids changed the loss or gradient (seed {seed})");
            if (ReferenceEquals(backend, counted))
            {
                Assert.Equal(2, readBack.DeviceToHost); // the forward's check of targets and noisy
                Assert.Equal(0, copies.DeviceToHost);
                Assert.Equal(0, copies.Synchronizations);
            }
        }
    }

    [Fact]
    public void Ids_checked_against_a_looser_bound_are_still_checked_by_the_op_with_its_clear_error()
    {
        var backend = TestBackends.IlgpuCpu;
        using var tape = Tape.Begin();
        // K = 3, MASK = 3: MASK is a valid noisy id but not a target; targets checked only below V = 4 prove nothing.
        var logits = Tensor.Zeros(backend, new Shape(3, 4));
        var w = Tensor.Zeros(backend, new Shape(3));
        var noisy = IntTensor.FromIds(backend, [3, 3, 3], 4, 3);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            SubsCrossEntropyOp.Apply(logits, IntTensor.FromIds(backend, [0, 3, 1], 4, 3), noisy, w));
        Assert.Contains("targets[1] = 3", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => IntTensor.FromIds(backend, [0, 2, 5], 4, 3));
        Assert.Contains("ids[2] = 5", e.Message);
    }

    /// <summary>Loss and ∂logits (as one array) of one forward and backward, and the backend counters of both.</summary>
    private static (float[] Values, BackendCounters Copies) LossAndGradient(Backend backend, float[] logits, float[] weights,
        int vocab, Func<Backend, (IntTensor Targets, IntTensor Noisy)> ids)
    {
        int rows = weights.Length;
        using var tape = Tape.Begin();
        var x = Tensor.FromArray(backend, logits, rows, vocab);
        x.RequiresGrad = true;
        var w = Tensor.FromArray(backend, weights, rows);
        var (targets, noisy) = ids(backend);
        var before = backend.Counters;
        var loss = SubsCrossEntropyOp.Apply(x, targets, noisy, w);
        loss.Backward(Enumerable.Repeat(1f, rows).ToArray());
        var copies = backend.Counters - before;
        return ([.. loss.ToArray(), .. x.Grad!.ToArray()], copies);
    }

    private static double[] Reference(double[] logits, double[] weights, int[] targets, int[] noisy, int vocab)
    {
        int k = vocab - 1;
        var loss = new double[targets.Length];
        for (int r = 0; r < loss.Length; r++)
        {
            if (noisy[r] != k)
            {
                continue;
            }
            var real = logits.AsSpan(r * vocab, k);
            double max = double.NegativeInfinity;
            foreach (double v in real)
            {
                max = Math.Max(max, v);
            }
            double sum = 0;
            foreach (double v in real)
            {
                sum += Math.Exp(v - max);
            }
            loss[r] = -weights[r] * (real[targets[r]] - max - Math.Log(sum));
        }
        return loss;
    }
}
