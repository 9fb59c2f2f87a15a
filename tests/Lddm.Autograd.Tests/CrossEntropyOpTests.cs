using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
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
