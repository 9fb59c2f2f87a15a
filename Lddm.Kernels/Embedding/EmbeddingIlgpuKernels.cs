using ILGPU;

namespace Lddm.Kernels.Ilgpu;

/// <summary>Embedding kernels: one thread per (position, column) element.</summary>
internal static class EmbeddingIlgpuKernels
{
    /// <summary>y[i·dim + d] = table[ids[i]·dim + d].</summary>
    [GpuKernel]
    public static void Forward(Index1D e, ArrayView<int> ids, ArrayView<float> table, ArrayView<float> y, int dim)
    {
        int i = e / dim, d = e - i * dim;
        y[e] = table[(long)ids[i] * dim + d];
    }

    /// <summary>dtable[ids[i]·dim + d] += dy[i·dim + d], atomically: repeated ids land on the same row.</summary>
    [GpuKernel]
    public static void Backward(Index1D e, ArrayView<int> ids, ArrayView<float> dy, ArrayView<float> dtable, int dim)
    {
        int i = e / dim, d = e - i * dim;
        Atomic.Add(ref dtable[(long)ids[i] * dim + d], dy[e]);
    }
}
