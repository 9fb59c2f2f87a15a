using System.Reflection;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// <see cref="Backend.Counters"/> on ILGPU: each kernel call adds its launches, each wait and copy its count. A fresh
/// simulator per test, so kernels run by parallel tests on the shared one do not enter the differences.
/// </summary>
public sealed class CountersTests
{
    [Fact]
    public void Each_kernel_call_adds_its_launches_and_nothing_else()
    {
        using var backend = IlgpuBackend.CreateCpuSimulator();
        var rng = new Random(3);
        int n = 1 + rng.Next(300);
        using var a = backend.Upload<float>(Numerics.RandomFloats(rng, n));
        using var b = backend.Upload<float>(Numerics.RandomFloats(rng, n));
        using var m = backend.Full(n, 0f);
        using var v = backend.Full(n, 0f);
        using var r = backend.Full(1, 0f);
        var before = backend.Counters;

        backend.Add(a, b, m);
        Assert.Equal(new BackendCounters(1, 0, 0, 0), backend.Counters - before);

        before = backend.Counters;
        backend.AdamWStep(a, b, m, v, new AdamWParameters(1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1));
        backend.EmaUpdate(m, a, 0.5f);
        Assert.Equal(new BackendCounters(2, 0, 0, 0), backend.Counters - before);

        // The grad norm: one partial-sum launch per buffer, then one final pass; the clip one launch per buffer.
        var grads = new[] { a, b, m };
        before = backend.Counters;
        backend.GradNormSquared(grads, r);
        Assert.Equal(new BackendCounters(4, 0, 0, 0), backend.Counters - before);
        before = backend.Counters;
        backend.ClipByNorm(grads, r, 1f);
        Assert.Equal(new BackendCounters(3, 0, 0, 0), backend.Counters - before);

        before = backend.Counters;
        v.Fill(1f);
        Assert.Equal(new BackendCounters(1, 0, 0, 0), backend.Counters - before);
    }

    [Fact]
    public void Copies_and_waits_are_counted_as_synchronisations()
    {
        using var backend = IlgpuBackend.CreateCpuSimulator();
        var data = Numerics.RandomFloats(new Random(4), 17);
        var before = backend.Counters;
        using var x = backend.Upload<float>(data); // one synchronous host→device copy
        Assert.Equal(new BackendCounters(0, 1, 1, 0), backend.Counters - before);

        before = backend.Counters;
        var back = x.ToArray(); // waits for the stream, then copies
        Assert.Equal(new BackendCounters(0, 1, 0, 1), backend.Counters - before);
        Assert.Equal(data, back);

        before = backend.Counters;
        backend.Synchronize();
        Assert.Equal(new BackendCounters(0, 1, 0, 0), backend.Counters - before);
    }

    [Fact]
    public void Every_loaded_kernel_is_a_counting_delegate()
    {
        // Load a spread of kernels, then every kernel field of the backend that holds a delegate must be one that
        // CountingAccelerator made: a kernel loaded past it (on the raw accelerator) would run uncounted.
        var backend = TestBackends.IlgpuCpu;
        using var x = backend.Upload<float>(Numerics.RandomFloats(new Random(5), 64));
        using var y = backend.Full(64, 0f);
        using var s = backend.Full(1, 0f);
        using var m = backend.Full(64, 0f);
        using var v = backend.Full(64, 0f);
        backend.Add(x, x, y);
        backend.SoftmaxForward(x, 8, 8, y);
        backend.Sum(x, s);
        backend.AdamWStep(y, x, m, v, new AdamWParameters(1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1));
        var fields = typeof(IlgpuBackend).GetFields(BindingFlags.Instance | BindingFlags.NonPublic)
            .Where(f => typeof(Delegate).IsAssignableFrom(f.FieldType)).ToList();
        Assert.True(fields.Count > 40, $"found only {fields.Count} kernel fields");
        int loaded = 0;
        foreach (var f in fields)
        {
            if (f.GetValue(backend) is Delegate d)
            {
                loaded++;
                Assert.True(d.Method.DeclaringType?.DeclaringType == typeof(CountingAccelerator)
                    || d.Method.DeclaringType == typeof(CountingAccelerator),
                    $"{f.Name} was not loaded through CountingAccelerator ({d.Method.DeclaringType})");
            }
        }
        Assert.True(loaded >= 4, $"only {loaded} kernels loaded");
    }

    [Fact]
    public void A_cross_entropy_backward_after_its_forward_skips_the_second_id_copy_and_gives_the_same_gradient()
    {
        using var backend = IlgpuBackend.CreateCpuSimulator();
        var rng = new Random(11);
        int rows = 1 + rng.Next(40), vocab = 2 + rng.Next(30);
        using var logits = backend.Upload<float>(Numerics.RandomFloats(rng, rows * vocab, 3f));
        using var targets = backend.Upload<int>(Enumerable.Range(0, rows).Select(_ => rng.Next(vocab - 1)).ToArray());
        using var noisy = backend.Upload<int>(Enumerable.Range(0, rows).Select(_ => rng.Next(2) == 0 ? vocab - 1 : rng.Next(vocab - 1)).ToArray());
        using var weights = backend.Upload<float>(Numerics.RandomFloats(rng, rows));
        using var dloss = backend.Upload<float>(Numerics.RandomFloats(rng, rows));
        using var checkedGrad = backend.Full(rows * vocab, 0f);
        using var trustedGrad = backend.Full(rows * vocab, 0f);

        var before = backend.Counters;
        backend.SubsCrossEntropyBackward(logits, targets, noisy, weights, dloss, rows, vocab, checkedGrad);
        var validating = backend.Counters - before;
        before = backend.Counters;
        backend.SubsCrossEntropyBackward(logits, targets, noisy, weights, dloss, rows, vocab, trustedGrad, idsValidated: true);
        var trusted = backend.Counters - before;

        Assert.Equal(2, validating.DeviceToHost);
        Assert.Equal(new BackendCounters(validating.Launches, 0, 0, 0), trusted);
        Assert.Equal(checkedGrad.ToArray(), trustedGrad.ToArray());
        // Shapes are still checked when the ids are trusted.
        Assert.Throws<ArgumentException>(() =>
            backend.SubsCrossEntropyBackward(logits, targets, noisy, weights, dloss, rows, vocab + 1, trustedGrad, idsValidated: true));
    }
}
