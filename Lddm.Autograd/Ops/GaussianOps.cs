namespace Lddm.Autograd;

/// <summary>
/// Forward noising of the Gaussian latent: y_t[b, ...] = abar[b]·y0[b, ...] + sbar[b]·ε[b, ...] for y0 (B, ...),
/// ε element i = Philox normal (seed, stream, offset + i) (bit-identical to FillNormal). ∂y0 += abar[b]·∂y_t;
/// ε and the coefficients get no gradient.
/// </summary>
public sealed class GaussianNoiseOp : Node
{
    private Tensor _y0 = null!, _abar = null!;
    private int _batch, _dim;

    /// <summary>Returns y_t (same shape as y0) and the noise it used in <paramref name="eps"/> (same shape, no gradient).</summary>
    public static Tensor Apply(Tensor y0, float[] abar, float[] sbar, ulong seed, ulong stream, long offset, out Tensor eps)
    {
        const string op = nameof(GaussianNoiseOp);
        OpCheck.Live(op, y0);
        ArgumentNullException.ThrowIfNull(abar);
        ArgumentNullException.ThrowIfNull(sbar);
        if (y0.Shape.Rank < 1 || y0.Shape.Elements == 0)
        {
            throw new ArgumentException($"{op}: 'y0' must be a non-empty (B, ...) tensor but is {y0.Shape}.", nameof(y0));
        }
        int batch = y0.Shape[0], dim = y0.Shape.Elements / batch;
        CheckCoefficients(op, abar, nameof(abar), y0.Shape, batch);
        CheckCoefficients(op, sbar, nameof(sbar), y0.Shape, batch);
        var backend = y0.Backend;
        var abarT = Tensor.FromArray(backend, abar, batch);
        using var sbarBuffer = backend.Allocate<float>(batch);
        sbarBuffer.CopyFrom(sbar);
        eps = Tensor.Empty(backend, y0.Shape);
        var yt = Tensor.Empty(backend, y0.Shape);
        backend.GaussianNoise(y0.Data, abarT.Data, sbarBuffer, batch, dim, seed, stream, offset, eps.Data, yt.Data);
        return Record(new GaussianNoiseOp { _y0 = y0, _abar = abarT, _batch = batch, _dim = dim }, yt, y0);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_y0.RequiresGrad)
        {
            // ∂y0 += abar[b]·∂y_t is the row-scale backward with respect to x (x itself is not read for dx).
            gradOutput.Backend.RowScaleBackward(gradOutput.Data, gradOutput.Data, _abar.Data, _batch, _dim, _y0.GradData(), null);
        }
    }

    private static void CheckCoefficients(string op, float[] values, string name, Shape shape, int batch)
    {
        if (values.Length != batch)
        {
            throw new ArgumentException(
                $"{op}: '{name}' has {values.Length} values but y0 {shape} needs one per sequence ({batch}).", name);
        }
    }
}

/// <summary>
/// y = scale ⊙ x where scale's shape is a prefix of x's (e.g. x (B, L, h), scale (B, L)): every element of x is
/// multiplied by the scale entry of its leading indices. ∂x += scale·∂y; ∂scale += Σ over the trailing axes of ∂y·x.
/// </summary>
public sealed class RowScaleOp : Node
{
    private Tensor _x = null!, _scale = null!;
    private int _rows, _cols;

    public static Tensor Apply(Tensor x, Tensor scale)
    {
        const string op = nameof(RowScaleOp);
        OpCheck.Live(op, x, scale);
        OpCheck.SameBackend(op, x, scale, "x", "scale");
        bool prefix = scale.Shape.Rank <= x.Shape.Rank;
        for (int i = 0; prefix && i < scale.Shape.Rank; i++)
        {
            prefix = scale.Shape[i] == x.Shape[i];
        }
        if (!prefix || x.Shape.Elements == 0)
        {
            throw new ArgumentException(
                $"{op}: shape mismatch: 'scale' {scale.Shape} must be a prefix of non-empty 'x' {x.Shape}.", nameof(scale));
        }
        int rows = scale.Shape.Elements, cols = x.Shape.Elements / rows;
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.RowScale(x.Data, scale.Data, rows, cols, y.Data);
        return Record(new RowScaleOp { _x = x, _scale = scale, _rows = rows, _cols = cols }, y, x, scale);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        var backend = gradOutput.Backend;
        var dx = _x.RequiresGrad ? _x.GradData() : null;
        var dscale = _scale.RequiresGrad ? _scale.GradData() : null;
        if (dx is null || !ReferenceEquals(dx, dscale))
        {
            backend.RowScaleBackward(gradOutput.Data, _x.Data, _scale.Data, _rows, _cols, dx, dscale);
            return;
        }
        // x and scale are one tensor (cols = 1): the kernel's gradients must not alias, so ∂scale goes through scratch.
        using var scratch = backend.Allocate<float>(dscale!.Length);
        scratch.Fill(0f);
        backend.RowScaleBackward(gradOutput.Data, _x.Data, _scale.Data, _rows, _cols, dx, scratch);
        backend.Axpby(1f, scratch, 1f, dscale);
    }
}

/// <summary>
/// L2 normalisation over the last axis: y = x / max(‖x‖, ε). ∂x += (∂y − y·⟨y, ∂y⟩)/‖x‖ for rows with ‖x‖ ≥ ε,
/// ∂y/ε for clamped rows.
/// </summary>
public sealed class L2NormalizeOp : Node
{
    private Tensor _x = null!, _y = null!, _norms = null!;
    private int _rows, _cols;

    public static Tensor Apply(Tensor x, float epsilon = 1e-12f)
    {
        const string op = nameof(L2NormalizeOp);
        OpCheck.Live(op, x);
        if (x.Shape.Rank < 1 || x.Shape.Elements == 0)
        {
            throw new ArgumentException($"{op}: 'x' must be a non-empty tensor of rank ≥ 1 but is {x.Shape}.", nameof(x));
        }
        if (!(epsilon > 0f) || !float.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"{op}: 'epsilon' must be finite and positive but was {epsilon}.");
        }
        int cols = x.Shape.Last, rows = x.Shape.Rows;
        var backend = x.Backend;
        var y = Tensor.Empty(backend, x.Shape);
        var norms = Tensor.Empty(backend, new Shape(rows));
        backend.RowL2Normalize(x.Data, rows, cols, epsilon, y.Data, norms.Data);
        return Record(new L2NormalizeOp { _x = x, _y = y, _norms = norms, _rows = rows, _cols = cols }, y, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_x.RequiresGrad)
        {
            gradOutput.Backend.RowL2NormalizeBackward(gradOutput.Data, _y.Data, _norms.Data, _rows, _cols, _x.GradData());
        }
    }
}
