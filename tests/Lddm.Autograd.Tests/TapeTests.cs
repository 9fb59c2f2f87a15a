using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Autograd.Tests;

public sealed class TapeTests
{
    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Chained_ops_multiply_their_local_derivatives(string name)
    {
        var backend = TestBackends.Get(name);
        using var tape = Tape.Begin();
        var x = Tensor.FromArray(backend, [1f, -2f, 3f], 3);
        x.RequiresGrad = true;
        var y = ScaleOp.Apply(ScaleOp.Apply(x, 2f), -0.5f);
        y.Backward([1f, 10f, 100f]);
        Assert.Equal(new[] { -1f, -10f, -100f }, x.Grad!.ToArray());
        Assert.Equal(0, tape.Count); // the walk released the nodes
    }

    [Fact]
    public void Grad_off_records_nothing_and_backward_then_explains_why()
    {
        var backend = TestBackends.Cpu;
        using var tape = Tape.Begin();
        var x = Tensor.FromArray(backend, [1f], 1);
        x.RequiresGrad = true;
        Tensor y;
        using (Grad.Off())
        {
            y = ScaleOp.Apply(x, 3f);
        }
        Assert.Equal(0, tape.Count);
        Assert.False(y.RequiresGrad);
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("Grad.Off()", e.Message);
    }

    [Fact]
    public void Backward_walks_the_tape_only_once()
    {
        var backend = TestBackends.Cpu;
        using var tape = Tape.Begin();
        var x = Tensor.FromArray(backend, [1f], 1);
        x.RequiresGrad = true;
        var y = ScaleOp.Apply(x, 3f);
        y.Backward();
        Assert.Throws<InvalidOperationException>(() => y.Backward());
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Disposing_the_tape_returns_the_pool_to_its_start_size(string name)
    {
        var backend = TestBackends.Get(name);
        using var x = new Parameter(backend, 64);
        var start = backend.PoolStatistics;
        for (int step = 0; step < 5; step++)
        {
            using var tape = Tape.Begin();
            var y = ScaleOp.Apply(ScaleOp.Apply(x, 2f), 3f);
            y.Backward(new float[64]);
            x.ClearGrad();
        }
        Assert.Equal(start.LiveBytes, backend.PoolStatistics.LiveBytes);
        Assert.Equal(start.LiveBuffers, backend.PoolStatistics.LiveBuffers);
    }
}
