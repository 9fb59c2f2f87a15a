namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// Batched GEMM: for each p in [0, batch), C[p] = α·op(A[p])·op(B[p]) + β·C[p], with C[p] of shape (m, n)
    /// row-major. op(A) is A stored (m, k), or Aᵀ when <paramref name="transposeA"/> (A stored (k, m));
    /// op(B) is B stored (k, n), or Bᵀ when <paramref name="transposeB"/> (B stored (n, k)).
    /// Shapes: a (batch, m, k) or (batch, k, m); b (batch, k, n) or (batch, n, k), or a single matrix shared by
    /// every batch when <paramref name="broadcastB"/> (a weight); c (batch, m, n).
    /// With β = 0, C is only written (it may hold NaN poison); with β = 1 the product accumulates into C.
    /// </summary>
    public void Matmul(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c, int batch, int m, int n,
        int k, bool transposeA = false, bool transposeB = false, float alpha = 1f, float beta = 0f,
        bool broadcastB = false)
    {
        const string kernel = nameof(Matmul);
        Check.Positive(batch, kernel, nameof(batch));
        Check.Positive(m, kernel, nameof(m));
        Check.Positive(n, kernel, nameof(n));
        Check.Positive(k, kernel, nameof(k));
        Check.Finite(alpha, kernel, nameof(alpha));
        Check.Finite(beta, kernel, nameof(beta));
        int bBatch = broadcastB ? 1 : batch;
        string aShape = transposeA ? $"({batch}, {k}, {m})" : $"({batch}, {m}, {k})";
        string bShape = transposeB ? $"({bBatch}, {n}, {k})" : $"({bBatch}, {k}, {n})";
        Check.Buffer(this, a, Check.Elements(kernel, batch, m, k), kernel, nameof(a), aShape);
        Check.Buffer(this, b, Check.Elements(kernel, bBatch, k, n), kernel, nameof(b), bShape);
        Check.Buffer(this, c, Check.Elements(kernel, batch, m, n), kernel, nameof(c), $"({batch}, {m}, {n})");
        MatmulCore(a, b, c, new MatmulShape(batch, m, n, k, transposeA, transposeB, alpha, beta, broadcastB));
    }

    protected abstract void MatmulCore(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c,
        MatmulShape shape);
}

/// <summary>A validated batched-GEMM problem (see <see cref="Backend.Matmul"/>).</summary>
public readonly record struct MatmulShape(int Batch, int M, int N, int K, bool TransposeA, bool TransposeB,
    float Alpha, float Beta, bool BroadcastB);
