using ILGPU;
using ILGPU.Runtime;
using Lddm.Kernels.Ilgpu;
using Lddm.Kernels.Ptx;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The cp.async TF32 GEMM (<c>MatmulMmaAsyncIlgpuKernels</c>). It is CUDA-only (the simulator cannot run inline PTX
/// and its body is empty there), so these tests pin what can be checked without a GPU: the shape of its PTX, ptxas's
/// verdict (no locals in the main loop: only the 256-byte accumulator read-out), and the shared-address arithmetic
/// that <c>AsyncCopy.SharedAddress</c> builds on <c>ArrayView.AlignTo</c>.
/// </summary>
public sealed class MatmulMmaAsyncTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, 0f, false)]
    [InlineData(2, 1f, true)]
    public void Quad_aligned_operands_as_stored_match_the_reference(int batch, float beta, bool broadcastB)
    {
        // What the CUDA host sends through cp.async with LDDM_CUDA_MMA_ASYNC=1: A and B as stored, k and n multiples
        // of 4. 136 × 132: 2 × 2 tiles, the second nearly empty; k = 40: two full slices and a half one. On the
        // simulator this runs the register-staged kernel (the async one is CUDA-only), on a GPU the cp.async one.
        MatmulMmaTests.AssertMatchesTf32(TestBackends.IlgpuMma, batch, 136, 132, 40, false, false, 0.75f, beta, broadcastB, seed: 5);
    }

    [Theory]
    [InlineData("sm_80")]
    [InlineData("sm_90")]
    public void Async_kernels_copy_with_cp_async_and_keep_locals_out_of_the_main_loop(string arch)
    {
        var compiled = PtxCompiler.CompileAll(arch, k => k.Name.StartsWith("MatmulMmaAsyncIlgpuKernels.", StringComparison.Ordinal));
        // The plain, linear and gated entry points.
        Assert.Equal(3, compiled.Count);
        string? ptxas = Ptxas.Locate();
        foreach (var (kernel, ptx) in compiled)
        {
            // 4 copies before the loop and 4 per slice in it, each slice one group; 16 mma per 8-deep step.
            Assert.Equal(8, Count(ptx, "cp.async.cg.shared.global ["));
            Assert.Equal(2, Count(ptx, "cp.async.commit_group;"));
            Assert.Equal(2, Count(ptx, "cp.async.wait_group 0;"));
            Assert.Equal(16, Count(ptx, "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32"));
            Assert.Equal(24, Count(ptx, "cvt.rna.tf32.f32"));
            // Shared memory 16-byte aligned for the copies; the only locals are the 64 accumulator reads.
            Assert.Equal(2, Count(ptx, ".shared .align 16 .b8"));
            Assert.Equal(64, Count(ptx, ".local .align"));
            if (ptxas is null)
            {
                output.WriteLine("ptxas not found: PTX checked but not assembled (run scripts/fetch-ptxas.sh).");
                continue;
            }
            var r = Ptxas.Assemble(ptxas, kernel.Name, ptx, arch);
            output.WriteLine($"{kernel.Name} {arch}: {r.Registers} regs, {r.SharedBytes} B smem, {r.StackBytes} B stack");
            Assert.True(r.Ok, r.Error);
            Assert.Equal(0, r.SpillStoreBytes + r.SpillLoadBytes);
            Assert.Equal(256, r.StackBytes);
            // At most 128 registers: two 256-thread blocks per SM.
            Assert.InRange(r.Registers, 1, 128);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(52)]
    [InlineData(1000)]
    public void Shared_address_from_align_to_is_the_address_modulo_the_window(int offset)
    {
        // On ILGPU's CPU accelerator AlignTo runs on real host addresses with the same arithmetic: given any view,
        // SharedAddress must return the low 18 bits of the view's address (a global buffer here: the host can read
        // its address, and the function takes any view).
        using var backend = IlgpuBackend.CreateCpuSimulator();
        var accelerator = backend.Accelerator;
        var kernel = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<ulong>>(AddressKernel);
        // The w-byte view SharedAddress measures must exist here: the CPU accelerator checks view bounds.
        const int length = (1 << 18) + 2048;
        using var bytes = accelerator.Allocate1D<byte>(length);
        using var result = accelerator.Allocate1D<ulong>(1);
        ArrayView<byte> view = bytes.View.BaseView.SubView(offset, length - offset);
        kernel(new KernelConfig(1, MatmulMmaIlgpuKernels.GroupSize), view, result.View);
        accelerator.Synchronize();
        const ulong window = 1 << 18;
        ulong expected = (ulong)view.LoadEffectiveAddressAsPtr().ToInt64() & (window - 1);
        Assert.Equal(expected, result.GetAsArray1D()[0]);
    }

    private static void AddressKernel(ArrayView<byte> view, ArrayView<ulong> result)
    {
        if (Group.IdxX == 0)
        {
            result[0] = AsyncCopy.SharedAddress(view);
        }
    }

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }
        return n;
    }
}
