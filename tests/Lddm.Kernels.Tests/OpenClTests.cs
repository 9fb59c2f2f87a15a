using ILGPU;
using ILGPU.Runtime;
using Lddm.Kernels.Cl;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Ptx;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The OpenCL path proven without an OpenCL runtime: ILGPU's OpenCL backend generates C for every kernel an OpenCL
/// device loads and, where clang is installed (always under CI=true), clang accepts it; the warp-shuffle kernels are
/// exactly the ones the generic vendor cannot take, each has a shuffle-free twin, and the simulator that runs the
/// twins could not pass with a shuffle kernel.
/// </summary>
public sealed class OpenClTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(ClVendor.Generic)]
    [InlineData(ClVendor.Intel)]
    public void Every_kernel_an_OpenCL_device_loads_generates_OpenCL_C_that_clang_accepts(ClVendor vendor)
    {
        var sources = ClCompiler.GenerateAll(vendor);
        var kernels = PtxCompiler.Discover();
        Assert.Equal(kernels.Count(k => ClCompiler.Applies(k, vendor)), sources.Count);
        Assert.True(sources.All(s => s.Ok), string.Join(Environment.NewLine, sources.Where(s => !s.Ok).Select(s => $"{s.Kernel.Name}: {s.Error}")));
        Assert.All(sources, s => Assert.Contains("kernel void", s.Source!));
        string? clang = ClangCl.Locate();
        if (clang is null)
        {
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true",
                $"CI must provide clang: apt-get install clang, or set {ClangCl.EnvironmentVariable}.");
            output.WriteLine("clang not found: OpenCL C generated but not checked (apt-get install clang).");
            return;
        }
        var failures = sources.Select(s => ClangCl.Check(clang, s.Kernel.Name, vendor, s.Source!)).Where(r => !r.Ok)
            .Select(r => $"{r.Kernel}: {r.Error}").ToList();
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public void Clang_rejects_broken_OpenCL_C_so_the_check_can_fail()
    {
        string? clang = ClangCl.Locate();
        if (clang is null)
        {
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "CI must provide clang.");
            return;
        }
        Assert.True(ClangCl.Check(clang, "ok", ClVendor.Generic, "kernel void k(global float* x) { x[get_global_id(0)] = 1.0f; }").Ok);
        var r = ClangCl.Check(clang, "shuffle", ClVendor.Generic,
            "kernel void k(global float* x) { x[0] = intel_sub_group_shuffle_xor(x[0], 1u); }");
        Assert.False(r.Ok);
        Assert.Contains("intel_sub_group_shuffle_xor", r.Error);
    }

    [Fact]
    public void Warp_shuffle_kernels_are_exactly_those_the_generic_vendor_rejects_and_each_has_a_shuffle_free_twin()
    {
        var kernels = PtxCompiler.Discover();
        var shuffles = kernels.Where(k => k.WarpShuffles).ToList();
        Assert.Equal(8, shuffles.Count);
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        using var backend = new ILGPU.Backends.OpenCL.CLBackend(context,
            new ILGPU.Runtime.OpenCL.CLCapabilityContext(false, true, true, true, false),
            ILGPU.Runtime.OpenCL.CLDeviceVendor.Other, ILGPU.Backends.OpenCL.CLCVersion.CL20);
        foreach (var k in shuffles)
        {
            Assert.ThrowsAny<Exception>(() => backend.Compile(k.EntryPoint(), default(KernelSpecialization)));
            var twin = kernels.SingleOrDefault(t => t.Method.DeclaringType == k.Method.DeclaringType && t.Method.Name == k.Method.Name + "NoShuffle");
            Assert.True(twin is not null, $"{k.Name} has no {k.Method.Name}NoShuffle twin.");
            Assert.False(twin!.WarpShuffles);
            Assert.Equal(k.Hot, twin.Hot);
            Assert.Equal(k.Method.GetParameters().Select(p => p.ParameterType), twin.Method.GetParameters().Select(p => p.ParameterType));
        }
    }

    [Fact]
    public void Each_backend_loads_the_shuffle_kernels_or_exactly_their_twins()
    {
        var shuffles = PtxCompiler.Discover().Where(k => k.WarpShuffles).Select(k => k.Method.Name).ToHashSet();
        foreach (var backend in new[] { TestBackends.IlgpuCpu, TestBackends.IlgpuCpuNoShuffles })
        {
            RunEveryTwinnedKernel(backend);
            var expected = backend.UseWarpShuffles ? shuffles : shuffles.Select(n => n + "NoShuffle").ToHashSet();
            Assert.True(expected.SetEquals(backend.LoadedTwins),
                $"{backend.Name} loaded [{string.Join(", ", backend.LoadedTwins.Order())}], expected [{string.Join(", ", expected.Order())}].");
        }
        Assert.False(TestBackends.IlgpuCpuNoShuffles.UseWarpShuffles);
    }

    /// <summary>One call of each operation whose kernel has a shuffle-free twin (values are checked elsewhere).</summary>
    private static void RunEveryTwinnedKernel(Backend backend)
    {
        const int rows = 3, cols = 9;
        using var x = backend.Upload<float>(Numerics.RandomFloats(new Random(1), rows * cols));
        using var y = backend.Allocate<float>(rows * cols);
        using var dx = backend.Full(rows * cols, 0f);
        backend.SoftmaxForward(x, rows, cols, y);
        backend.LogSoftmaxForward(x, rows, cols, y);
        backend.SoftmaxBackward(y, x, rows, cols, dx);
        backend.LogSoftmaxBackward(y, x, rows, cols, dx);
        using var targets = backend.Upload<int>([0, 1, 2]);
        using var noisy = backend.Upload<int>([cols - 1, 0, cols - 1]);
        using var weights = backend.Full(rows, 1f);
        using var loss = backend.Allocate<float>(rows);
        backend.SubsCrossEntropyForward(x, targets, noisy, weights, rows, cols, loss);
        backend.SubsCrossEntropyBackward(x, targets, noisy, weights, weights, rows, cols, dx);
        using var sums = backend.Allocate<float>(rows);
        backend.SumCols(x, rows, cols, sums, accumulate: false);
        const int tokens = 5, dim = 4;
        using var q = backend.Upload<float>(Numerics.RandomFloats(new Random(2), tokens * dim));
        using var o = backend.Allocate<float>(tokens * dim);
        using var lse = backend.Allocate<float>(tokens);
        backend.AttentionForward(q, q, q, null, 1, 1, tokens, dim, AttentionMask.None, o, lse);
        backend.Synchronize();
    }
}
