namespace Lddm.Autograd;

/// <summary>
/// y = op(a)·op(b) over the last two axes, op = identity or transpose. a is (…, m, k), or (…, k, m) when
/// <c>transposeA</c>; b is (…, k, n), or (…, n, k) when <c>transposeB</c>, with either the same leading (batch)
/// dimensions as a or rank 2 (a weight broadcast over a's batch). y is (…, m, n) with a's leading dimensions.
/// Backward, straight into the gradients: ∂op(a) += ∂y·op(b)ᵀ, ∂op(b) += op(a)ᵀ·∂y, with ∂b summed over the batch
/// when b is broadcast; β = 0 (a write, no zero fill) when this op is a gradient's first writer, β = 1 after.
/// A <see cref="TransposeOp"/> view of the last two axes is read in place through the transpose flag.
/// </summary>
public sealed class MatmulOp : Node
{
    private Tensor _a = null!, _b = null!;
    private int _batch, _m, _n, _k;
    private bool _transposeA, _transposeB, _broadcast;

    public static Tensor Apply(Tensor a, Tensor b, bool transposeA = false, bool transposeB = false)
    {
        const string op = nameof(MatmulOp);
        OpCheck.Live(op, a, b);
        // A view that is its root with the last two axes swapped is read through the transpose flag: no copy, and the
        // gradient goes straight to the root.
        if (a.LastAxesTransposeOf() is { } rootA)
        {
            (a, transposeA) = (rootA, !transposeA);
        }
        if (b.LastAxesTransposeOf() is { } rootB)
        {
            (b, transposeB) = (rootB, !transposeB);
        }
        OpCheck.SameBackend(op, a, b, "a", "b");
        if (a.Shape.Rank < 2 || b.Shape.Rank < 2)
        {
            throw new ArgumentException($"{op}: 'a' {a.Shape} and 'b' {b.Shape} must both have rank at least 2 (matrices over the last two axes).");
        }
        bool broadcast = b.Shape.Rank == 2 && a.Shape.Rank > 2;
        bool sameBatch = b.Shape.Rank == a.Shape.Rank;
        for (int i = 0; sameBatch && i < a.Shape.Rank - 2; i++)
        {
            sameBatch = a.Shape[i] == b.Shape[i];
        }
        if (!broadcast && !sameBatch)
        {
            throw new ArgumentException(
                $"{op}: shape mismatch: 'b' {b.Shape} must have the leading dimensions of 'a' {a.Shape} or be a rank-2 matrix broadcast over them.");
        }
        int m = transposeA ? a.Shape[^1] : a.Shape[^2];
        int ka = transposeA ? a.Shape[^2] : a.Shape[^1];
        int kb = transposeB ? b.Shape[^1] : b.Shape[^2];
        int n = transposeB ? b.Shape[^2] : b.Shape[^1];
        if (ka != kb)
        {
            throw new ArgumentException(
                $"{op}: shape mismatch: the inner dimensions of 'a' {a.Shape}{(transposeA ? "ᵀ" : "")} ({ka}) and 'b' {b.Shape}{(transposeB ? "ᵀ" : "")} ({kb}) differ.");
        }
        var dims = a.Shape.ToArray();
        dims[^2] = m;
        dims[^1] = n;
        var y = Tensor.Empty(a.Backend, new Shape(dims));
        var node = new MatmulOp
        {
            _a = a,
            _b = b,
            _batch = a.Shape.Product(0, a.Shape.Rank - 2),
            _m = m,
            _n = n,
            _k = ka,
            _transposeA = transposeA,
            _transposeB = transposeB,
            _broadcast = broadcast,
        };
        if (y.Shape.Elements > 0)
        {
            if (ka == 0)
            {
                y.Data.Fill(0f);
            }
            else if (broadcast && !transposeA)
            {
                // A weight: a is one (batch·m, k) matrix.
                a.Backend.Matmul(a.Data, b.Data, y.Data, 1, node._batch * m, n, ka, false, transposeB);
            }
            else
            {
                a.Backend.Matmul(a.Data, b.Data, y.Data, node._batch, m, n, ka, transposeA, transposeB, broadcastB: broadcast);
            }
        }
        return Record(node, y, a, b);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (gradOutput.Shape.Elements == 0 || _k == 0)
        {
            return;
        }
        var backend = gradOutput.Backend;
        var g = gradOutput.Data;
        int batch = _batch, m = _m, n = _n, k = _k;
        if (_a.RequiresGrad)
        {
            var da = _a.GradForWrite(out float betaA);
            if (!_transposeA)
            {
                // ∂a (m, k) += ∂y (m, n) · op(b)ᵀ (n, k).
                if (_broadcast)
                {
                    backend.Matmul(g, _b.Data, da, 1, batch * m, k, n, false, !_transposeB, beta: betaA);
                }
                else
                {
                    backend.Matmul(g, _b.Data, da, batch, m, k, n, false, !_transposeB, beta: betaA);
                }
            }
            else if (!_broadcast)
            {
                // a stored (k, m): ∂a (k, m) += op(b) (k, n) · ∂yᵀ (n, m).
                backend.Matmul(_b.Data, g, da, batch, k, m, n, _transposeB, true, beta: betaA);
            }
            else
            {
                // The kernel broadcasts only its right operand: form ∂op(a) = ∂y·op(b)ᵀ (batch, m, k), swap to (batch, k, m).
                using var t = backend.Allocate<float>(batch * m * k);
                using var swapped = backend.Allocate<float>(batch * m * k);
                backend.Matmul(g, _b.Data, t, 1, batch * m, k, n, false, !_transposeB);
                backend.SwapAxes(t, batch, m, 1, k, 1, swapped);
                backend.Axpby(1f, swapped, betaA, da);
            }
        }
        if (_b.RequiresGrad)
        {
            var db = _b.GradForWrite(out float betaB);
            if (!_broadcast)
            {
                if (!_transposeB)
                {
                    // ∂b (k, n) += op(a)ᵀ (k, m) · ∂y (m, n).
                    backend.Matmul(_a.Data, g, db, batch, k, n, m, !_transposeA, false, beta: betaB);
                }
                else
                {
                    // b stored (n, k): ∂b (n, k) += ∂yᵀ (n, m) · op(a) (m, k).
                    backend.Matmul(g, _a.Data, db, batch, n, k, m, true, _transposeA, beta: betaB);
                }
            }
            else if (!_transposeA)
            {
                // a is one (batch·m, k) matrix and ∂y one (batch·m, n) matrix: the batch sum is the inner product.
                if (!_transposeB)
                {
                    backend.Matmul(_a.Data, g, db, 1, k, n, batch * m, true, false, beta: betaB);
                }
                else
                {
                    backend.Matmul(g, _a.Data, db, 1, n, k, batch * m, true, false, beta: betaB);
                }
            }
            else
            {
                // a stored (batch, k, m) is not one matrix: per-batch products, then a sum over the batch.
                using var t = backend.Allocate<float>(batch * k * n);
                if (!_transposeB)
                {
                    backend.Matmul(_a.Data, g, t, batch, k, n, m, false, false);
                }
                else
                {
                    backend.Matmul(g, _a.Data, t, batch, n, k, m, true, true);
                }
                backend.SumRows(t, batch, k * n, db, accumulate: betaB != 0f);
            }
        }
    }
}
