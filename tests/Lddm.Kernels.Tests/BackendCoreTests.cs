using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

public sealed class BackendCoreTests
{
    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Disposed_buffers_return_to_the_pool_and_are_reused(string name)
    {
        var backend = TestBackends.Get(name);
        var before = backend.PoolStatistics;
        var a = backend.Allocate<float>(1237);
        Assert.Equal(before.LiveBytes + 1237 * sizeof(float), backend.PoolStatistics.LiveBytes);
        a.Dispose();
        var after = backend.PoolStatistics;
        Assert.Equal(before.LiveBytes, after.LiveBytes);
        Assert.Equal(before.LiveBuffers, after.LiveBuffers);
        Assert.True(after.CachedBytes >= 1237 * sizeof(float));
        using var b = backend.Allocate<float>(1237);
        Assert.Equal(after.CachedBytes - 1237 * sizeof(float), backend.PoolStatistics.CachedBytes);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Peak_memory_records_the_high_water_mark_until_reset(string name)
    {
        var backend = TestBackends.Get(name);
        backend.ResetPeakMemory();
        long start = backend.PoolStatistics.LiveBytes;
        using (backend.Allocate<float>(1000))
        using (backend.Allocate<float>(3000))
        {
        }
        Assert.Equal(start + 4000 * sizeof(float), backend.PoolStatistics.PeakLiveBytes);
        backend.ResetPeakMemory();
        Assert.Equal(start, backend.PoolStatistics.PeakLiveBytes);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Round_trip_copies_preserve_every_bit(string name)
    {
        var backend = TestBackends.Get(name);
        var rng = new Random(7);
        var floats = Enumerable.Range(0, 1000).Select(_ => BitConverter.Int32BitsToSingle(rng.Next())).ToArray();
        using var f = backend.Upload<float>(floats);
        Assert.Equal(floats.Select(BitConverter.SingleToInt32Bits), f.ToArray().Select(BitConverter.SingleToInt32Bits));
        var ints = Enumerable.Range(0, 33).Select(_ => rng.Next(int.MinValue, int.MaxValue)).ToArray();
        using var i = backend.Upload<int>(ints);
        Assert.Equal(ints, i.ToArray());
        using var d = backend.Full(17, 0.1);
        Assert.All(d.ToArray(), v => Assert.Equal(0.1, v));
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Misuse_of_buffers_fails_with_a_clear_error(string name)
    {
        var backend = TestBackends.Get(name);
        var a = backend.Allocate<float>(4);
        var e = Assert.Throws<ArgumentException>(() => a.CopyFrom(new float[5]));
        Assert.Contains("5 elements", e.Message);
        Assert.Contains("holds 4", e.Message);
        a.Dispose();
        a.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => a.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.Allocate<float>(-1));
        using var y = backend.Allocate<float>(4);
        var d = Assert.Throws<ObjectDisposedException>(() => backend.Axpby(1f, a, 0f, y));
        Assert.Contains("'x' was already disposed", d.Message);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:x")]
    [InlineData("opencl:0:1")]
    public void Unknown_device_specs_name_the_accepted_forms(string spec)
    {
        var e = Assert.Throws<ArgumentException>(() => Devices.Create(spec));
        Assert.Contains(spec, e.Message);
        Assert.Contains(Devices.Help, e.Message);
    }

    [Fact]
    public void Auto_never_picks_the_ilgpu_simulator_and_lists_cpu()
    {
        var list = Devices.List();
        Assert.Contains(list, d => d.Spec == "cpu");
        Assert.NotEqual("ilgpu-cpu", Devices.ResolveAuto());
    }

    [Fact]
    public void A_missing_cuda_device_index_is_reported_with_the_count_found()
    {
        int cudaCount = Devices.List().Count(d => d.Spec.StartsWith("cuda:", StringComparison.Ordinal));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Devices.Create($"cuda:{cudaCount}"));
        Assert.Contains($"found {cudaCount}", e.Message);
    }
}
