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

public abstract partial class Backend
{
    /// <summary>
    /// A linear layer's forward, y = act(x·W + bias): x (rows, inFeatures), W (inFeatures, outFeatures) row-major,
    /// bias (outFeatures) or null. With <see cref="Activation.Identity"/> only <paramref name="y"/> is written
    /// (<paramref name="pre"/> must be null). Otherwise <paramref name="pre"/> receives x·W — the pre-activation
    /// without the bias, which <see cref="BiasActivationBackward"/>(pre, bias, …) reads — and y = act(pre + bias).
    /// The result is exactly <see cref="Matmul"/> followed by <see cref="BiasActivationForward"/> (the same float
    /// operations); the CPU backend applies the bias and activation to each GEMM tile while it is in L1 instead of
    /// in a second pass over memory.
    /// </summary>
    public void LinearForward(DeviceBuffer<float> x, DeviceBuffer<float> weight, DeviceBuffer<float>? bias, int rows,
        int inFeatures, int outFeatures, Activation act, DeviceBuffer<float>? pre, DeviceBuffer<float> y)
    {
        const string k = nameof(LinearForward);
        Check.Positive(rows, k, nameof(rows));
        Check.Positive(inFeatures, k, nameof(inFeatures));
        Check.Positive(outFeatures, k, nameof(outFeatures));
        if (!Enum.IsDefined(act))
        {
            throw new ArgumentOutOfRangeException(nameof(act), act, $"{k}: 'act' is not a defined Activation.");
        }
        Check.Buffer(this, x, Check.Elements(k, rows, inFeatures), k, nameof(x), $"({rows}, {inFeatures})");
        Check.Buffer(this, weight, Check.Elements(k, inFeatures, outFeatures), k, nameof(weight), $"({inFeatures}, {outFeatures})");
        int n = Check.Elements(k, rows, outFeatures);
        Check.Buffer(this, y, n, k, nameof(y), $"({rows}, {outFeatures})");
        if (bias is not null)
        {
            Check.Buffer(this, bias, outFeatures, k, nameof(bias), $"({outFeatures})");
        }
        if (act == Activation.Identity)
        {
            if (pre is not null)
            {
                throw new ArgumentException($"{k}: 'pre' must be null with Activation.Identity (only y is written).", nameof(pre));
            }
        }
        else
        {
            if (pre is null)
            {
                throw new ArgumentNullException(nameof(pre), $"{k}: {act} needs 'pre' ({rows}, {outFeatures}) for the backward.");
            }
            Check.Buffer(this, pre, n, k, nameof(pre), $"({rows}, {outFeatures})");
            if (ReferenceEquals(pre, y))
            {
                throw new ArgumentException($"{k}: 'pre' and 'y' must be different buffers with {act}.", nameof(y));
            }
        }
        LinearForwardCore(x, weight, bias, rows, inFeatures, outFeatures, act, pre, y);
    }

    /// <summary>
    /// The linear layer that closes an adaLN-zero residual branch, in one GEMM: u = x·W + bias for x
    /// (batch·tokens, inFeatures), and y = residual + gate[b]·u with residual, y (batch·tokens, outFeatures) and gate
    /// (batch, outFeatures) one vector per sequence. u is written for the backward (∂gate = Σ_t ∂y·u). The values are
    /// exactly <see cref="LinearForward"/> (identity) into u followed by <see cref="GatedResidualForward"/>; the CPU
    /// backend and the FP32 ILGPU kernel apply the bias and the gated residual to each GEMM tile as it is stored
    /// instead of in a second pass over memory.
    /// </summary>
    public void LinearGatedResidualForward(DeviceBuffer<float> x, DeviceBuffer<float> weight, DeviceBuffer<float>? bias,
        DeviceBuffer<float> residual, DeviceBuffer<float> gate, int batch, int tokens, int inFeatures, int outFeatures,
        DeviceBuffer<float> u, DeviceBuffer<float> y)
    {
        const string k = nameof(LinearGatedResidualForward);
        Check.Positive(batch, k, nameof(batch));
        Check.Positive(tokens, k, nameof(tokens));
        Check.Positive(inFeatures, k, nameof(inFeatures));
        Check.Positive(outFeatures, k, nameof(outFeatures));
        int rows = Check.Elements(k, batch, tokens);
        string act = $"({batch}·{tokens}, {outFeatures})";
        Check.Buffer(this, x, Check.Elements(k, rows, inFeatures), k, nameof(x), $"({batch}·{tokens}, {inFeatures})");
        Check.Buffer(this, weight, Check.Elements(k, inFeatures, outFeatures), k, nameof(weight), $"({inFeatures}, {outFeatures})");
        if (bias is not null)
        {
            Check.Buffer(this, bias, outFeatures, k, nameof(bias), $"({outFeatures})");
        }
        int n = Check.Elements(k, rows, outFeatures);
        Check.Buffer(this, residual, n, k, nameof(residual), act);
        Check.Buffer(this, gate, Check.Elements(k, batch, outFeatures), k, nameof(gate), $"({batch}, {outFeatures})");
        Check.Buffer(this, u, n, k, nameof(u), act);
        Check.Buffer(this, y, n, k, nameof(y), act);
        foreach (var (other, name) in new[] { (x, nameof(x)), (residual, nameof(residual)), (y, nameof(y)) })
        {
            if (ReferenceEquals(u, other))
            {
                throw new ArgumentException($"{k}: 'u' must not alias '{name}'.", nameof(u));
            }
        }
        LinearGatedResidualForwardCore(x, weight, bias, residual, gate, batch, tokens, inFeatures, outFeatures, u, y);
    }

    /// <summary>
    /// <see cref="LinearGatedResidualForward"/> as the composition (linear into u, then the gated-residual pass); a
    /// backend with a fused epilogue overrides it.
    /// </summary>
    protected virtual void LinearGatedResidualForwardCore(DeviceBuffer<float> x, DeviceBuffer<float> weight,
        DeviceBuffer<float>? bias, DeviceBuffer<float> residual, DeviceBuffer<float> gate, int batch, int tokens,
        int inFeatures, int outFeatures, DeviceBuffer<float> u, DeviceBuffer<float> y)
    {
        LinearForwardCore(x, weight, bias, batch * tokens, inFeatures, outFeatures, Activation.Identity, null, u);
        GatedResidualForwardCore(residual, gate, u, batch, tokens, outFeatures, y);
    }

    /// <summary>
    /// <see cref="LinearForward"/> as the GEMM into pre (or y) and one bias + activation pass (the composition; a
    /// backend with a fused epilogue overrides it).
    /// </summary>
    protected virtual void LinearForwardCore(DeviceBuffer<float> x, DeviceBuffer<float> weight, DeviceBuffer<float>? bias,
        int rows, int inFeatures, int outFeatures, Activation act, DeviceBuffer<float>? pre, DeviceBuffer<float> y)
    {
        var product = act == Activation.Identity ? y : pre!;
        MatmulCore(x, weight, product, new MatmulShape(1, rows, outFeatures, inFeatures, false, false, 1f, 0f, false));
        if (bias is not null || act != Activation.Identity)
        {
            ActivationForwardCore(product, bias, rows, outFeatures, act, y);
        }
    }
}
