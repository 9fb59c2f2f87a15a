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
    public void Reads_and_waits_are_synchronisations_and_a_staged_upload_is_not()
    {
        using var backend = IlgpuBackend.CreateCpuSimulator();
        Assert.True(backend.UsesStagedUploads);
        var data = Numerics.RandomFloats(new Random(4), 17);
        var before = backend.Counters;
        using var x = backend.Upload<float>(data); // queued from page-locked staging memory: no wait
        Assert.Equal(new BackendCounters(0, 0, 1, 0), backend.Counters - before);

        before = backend.Counters;
        var back = x.ToArray(); // waits for the stream, then copies
        Assert.Equal(new BackendCounters(0, 1, 0, 1), backend.Counters - before);
        Assert.Equal(data, back);

        before = backend.Counters;
        backend.Synchronize();
        Assert.Equal(new BackendCounters(0, 1, 0, 0), backend.Counters - before);
    }

    [Fact]
    public void Without_staging_an_upload_waits()
    {
        using var backend = IlgpuBackend.CreateCpuSimulator(useWarpShuffles: true, useMmaMatmul: false, mmaBf16: false, stagedUploads: false);
        Assert.False(backend.UsesStagedUploads);
        var data = Numerics.RandomFloats(new Random(6), 33);
        var before = backend.Counters;
        using var x = backend.Upload<float>(data);
        Assert.Equal(new BackendCounters(0, 1, 1, 0), backend.Counters - before);
        Assert.Equal(data, x.ToArray());
    }

    [Fact]
    public void Staged_uploads_land_intact_and_wait_only_when_the_staging_memory_is_full()
    {
        using var backend = IlgpuBackend.CreateCpuSimulator();
        int seed = Environment.TickCount;
        var rng = new Random(seed);
        var sources = new List<(float[] Host, DeviceBuffer<float> Device)>();
        var ids = new List<(int[] Host, DeviceBuffer<int> Device)>();
        try
        {
            // Small uploads of both element types (≤ 1.2 KiB each, 256-byte aligned: well inside the first 64 KiB):
            // none waits. Each source is overwritten right after its upload: the data was copied when it was called.
            var before = backend.Counters;
            int small = 10 + rng.Next(20);
            for (int i = 0; i < small; i++)
            {
                var f = Numerics.RandomFloats(rng, 1 + rng.Next(300));
                sources.Add((f.ToArray(), backend.Upload<float>(f)));
                Array.Fill(f, float.NaN);
                var z = Enumerable.Range(0, 1 + rng.Next(300)).Select(_ => rng.Next()).ToArray();
                ids.Add((z.ToArray(), backend.Upload<int>(z)));
                Array.Fill(z, -1);
            }
            Assert.Equal(new BackendCounters(0, 0, 2 * small, 0), backend.Counters - before);

            // 64 KiB do not fit after them: one wait for the queued copies, then the staging memory is reused.
            before = backend.Counters;
            var full = Numerics.RandomFloats(rng, (64 << 10) / sizeof(float));
            sources.Add((full, backend.Upload<float>(full)));
            Assert.Equal(new BackendCounters(0, 1, 1, 0), backend.Counters - before);

            // Larger than the staging memory: one wait for the copy still reading it, then it grows.
            before = backend.Counters;
            var grown = Numerics.RandomFloats(rng, (64 << 10) / sizeof(float) + 1 + rng.Next(1000));
            sources.Add((grown, backend.Upload<float>(grown)));
            Assert.Equal(new BackendCounters(0, 1, 1, 0), backend.Counters - before);

            // Over the staging limit: ILGPU's synchronous copy.
            before = backend.Counters;
            var huge = Numerics.RandomFloats(rng, HostStaging.MaxBytes / sizeof(float) + 1);
            sources.Add((huge, backend.Upload<float>(huge)));
            Assert.Equal(new BackendCounters(0, 1, 1, 0), backend.Counters - before);

            foreach (var (host, device) in sources)
            {
                Assert.True(host.AsSpan().SequenceEqual(device.ToArray()), $"a staged float upload of {host.Length} differs (seed {seed})");
            }
            foreach (var (host, device) in ids)
            {
                Assert.True(host.AsSpan().SequenceEqual(device.ToArray()), $"a staged int upload of {host.Length} differs (seed {seed})");
            }

            // After a wait (the reads above), the staging memory starts again: small uploads do not wait.
            before = backend.Counters;
            var again = Numerics.RandomFloats(rng, 1 + rng.Next(300));
            using var last = backend.Upload<float>(again);
            Assert.Equal(new BackendCounters(0, 0, 1, 0), backend.Counters - before);
            Assert.Equal(again, last.ToArray());
        }
        finally
        {
            sources.ForEach(s => s.Device.Dispose());
            ids.ForEach(s => s.Device.Dispose());
        }
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
    public void Cross_entropy_and_embedding_calls_with_validated_ids_copy_nothing_back_and_give_the_same_results()
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

        // The forward and the embedding likewise, for ids the caller checked on the host before uploading them.
        using var checkedLoss = backend.Full(rows, float.NaN);
        using var trustedLoss = backend.Full(rows, float.NaN);
        before = backend.Counters;
        backend.SubsCrossEntropyForward(logits, targets, noisy, weights, rows, vocab, checkedLoss);
        validating = backend.Counters - before;
        before = backend.Counters;
        backend.SubsCrossEntropyForward(logits, targets, noisy, weights, rows, vocab, trustedLoss, idsValidated: true);
        trusted = backend.Counters - before;
        Assert.Equal(2, validating.DeviceToHost);
        Assert.Equal(new BackendCounters(validating.Launches, 0, 0, 0), trusted);
        Assert.Equal(checkedLoss.ToArray(), trustedLoss.ToArray());

        using var table = backend.Upload<float>(Numerics.RandomFloats(rng, vocab * 3));
        using var rowsOut = backend.Full(rows * 3, float.NaN);
        using var dtable = backend.Full(vocab * 3, 0f);
        before = backend.Counters;
        backend.EmbeddingForward(noisy, table, rows, vocab, 3, rowsOut, idsValidated: true);
        backend.EmbeddingBackward(noisy, rowsOut, rows, vocab, 3, dtable, idsValidated: true);
        Assert.Equal(new BackendCounters(2, 0, 0, 0), backend.Counters - before);
        before = backend.Counters;
        backend.EmbeddingForward(noisy, table, rows, vocab, 3, rowsOut);
        Assert.Equal(new BackendCounters(1, 1, 0, 1), backend.Counters - before);
    }
}
