using FsCheck.Xunit;
using Lddm.Autograd.Tests.Support;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Autograd.Tests;

public sealed class SoftmaxOpTests(ITestOutputHelper output)
{
    [Property(Arbitrary = [typeof(Dims)], MaxTest = 6)]
    [GradCheckOf(typeof(SoftmaxOp))]
    [GradCheckOf(typeof(LogSoftmaxOp))]
    public void Softmax_and_log_softmax_gradients_match_finite_differences(SmallDim rowsDim, SmallDim colsDim, int seed)
    {
        int rows = 1 + rowsDim % 6, cols = 1 + colsDim % 9;
        int[] shape = (seed & 1) == 0 ? [rows, cols] : [2, rows, cols];
        int n = shape.Aggregate(1, (p, d) => p * d);
        double worstSoftmax = 0, worstLog = 0;
        foreach (var backend in TestBackends.All)
        {
            var x = Numerics.RandomFloats(new Random(seed), n, 3f);
            worstSoftmax = Math.Max(worstSoftmax, GradCheck.Run(backend, "Softmax", seed, [x], [shape],
                t => SoftmaxOp.Apply(t[0]), r => Rows(r[0], cols, log: false)));
            worstLog = Math.Max(worstLog, GradCheck.Run(backend, "LogSoftmax", seed, [x], [shape],
                t => LogSoftmaxOp.Apply(t[0]), r => Rows(r[0], cols, log: true)));
        }
        output.WriteLine($"SoftmaxOp worst {worstSoftmax:E2}, LogSoftmaxOp worst {worstLog:E2}");
    }

    [Fact]
    public void Softmax_rejects_a_scalar_naming_its_shape()
    {
        using var tape = Tape.Begin();
        var x = Tensor.Zeros(TestBackends.Cpu, new Shape());
        Assert.Contains("()", Assert.Throws<ArgumentException>(() => SoftmaxOp.Apply(x)).Message);
        Assert.Contains("()", Assert.Throws<ArgumentException>(() => LogSoftmaxOp.Apply(x)).Message);
    }

    /// <summary>float64 row (log-)softmax over rows of <paramref name="cols"/>.</summary>
    internal static double[] Rows(double[] x, int cols, bool log)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / cols; r++)
        {
            var row = x.AsSpan(r * cols, cols);
            double max = double.NegativeInfinity;
            foreach (double v in row)
            {
                max = Math.Max(max, v);
            }
            double sum = 0;
            foreach (double v in row)
            {
                sum += Math.Exp(v - max);
            }
            for (int j = 0; j < cols; j++)
            {
                y[r * cols + j] = log ? row[j] - max - Math.Log(sum) : Math.Exp(row[j] - max) / sum;
            }
        }
        return y;
    }
}
