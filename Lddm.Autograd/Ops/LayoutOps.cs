using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// y = x viewed with another shape of the same element count (no copy; a strided view that is not one contiguous run
/// is materialised first); ∂x += ∂y (written when first).
/// </summary>
public sealed class ReshapeOp : Node
{
    private Tensor _x = null!;

    public static Tensor Apply(Tensor x, params int[] shape)
    {
        OpCheck.Live(nameof(ReshapeOp), x);
        var s = new Shape(shape);
        if (s.Elements != x.Shape.Elements)
        {
            throw new ArgumentException($"{nameof(ReshapeOp)}: cannot view shape {x.Shape} ({x.Shape.Elements} elements) as {s} ({s.Elements}).");
        }
        return Record(new ReshapeOp { _x = x }, x.ViewAs(s), x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_x.RequiresGrad)
        {
            var dx = _x.GradForWrite(out float beta);
            _x.Backend.Axpby(1f, gradOutput.Data, beta, dx);
        }
    }
}

/// <summary>
/// Swaps two axes: a view of x's buffer with the two strides swapped (no copy; a reader that needs contiguity
/// materialises it once). The backward scatters ∂y back through the swapped layout into ∂x (written when first, else added).
/// </summary>
public sealed class TransposeOp : Node
{
    private Tensor _x = null!;
    private StridedLayout _inX = null!;

    public static Tensor Apply(Tensor x, int axis0, int axis1)
    {
        OpCheck.Live(nameof(TransposeOp), x);
        int i = x.Shape.Axis(axis0), j = x.Shape.Axis(axis1);
        var dims = x.Shape.ToArray();
        (dims[i], dims[j]) = (dims[j], dims[i]);
        // Within x (for the backward's scatter into ∂x) and within x's root (for reading); the same for a non-view x.
        var inX = StridedLayout.Contiguous(x.Shape.ToArray()).SwapAxes(i, j);
        var y = Tensor.View(x.Root, new Shape(dims), x.IsView ? x.Layout.SwapAxes(i, j) : inX);
        var node = new TransposeOp { _x = x, _inX = inX };
        return Record(node, y, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_x.RequiresGrad)
        {
            // A transpose reaches every element of ∂x, so the first writer writes.
            var dx = _x.GradForWrite(out float beta);
            _x.Backend.ScatterStrided(gradOutput.Data, dx, _inX, accumulate: beta != 0f);
        }
    }
}

/// <summary>Concatenates tensors along one axis (other dimensions equal); ∂ of each input is its slice of ∂y.</summary>
public sealed class ConcatOp : Node
{
    private Tensor[] _xs = null!;
    private int _outer, _inner, _total;

    public static Tensor Apply(IReadOnlyList<Tensor> xs, int axis)
    {
        const string op = nameof(ConcatOp);
        if (xs is null || xs.Count == 0)
        {
            throw new ArgumentException($"{op}: needs at least one tensor.", nameof(xs));
        }
        var first = xs[0];
        int ax = first.Shape.Axis(axis);
        int total = 0;
        foreach (var x in xs)
        {
            OpCheck.Live(op, x);
            OpCheck.SameBackend(op, first, x, "xs[0]", "xs[i]");
            bool same = x.Shape.Rank == first.Shape.Rank;
            for (int d = 0; same && d < x.Shape.Rank; d++)
            {
                same = d == ax || x.Shape[d] == first.Shape[d];
            }
            if (!same)
            {
                throw new ArgumentException($"{op}: shape mismatch along axis {ax}: {first.Shape} and {x.Shape} differ outside the concatenation axis.");
            }
            total += x.Shape[ax];
        }
        int outer = first.Shape.Product(0, ax), inner = first.Shape.Product(ax + 1, first.Shape.Rank);
        var y = Tensor.Empty(first.Backend, first.Shape.With(ax, total));
        int offset = 0;
        foreach (var x in xs)
        {
            int width = x.Shape[ax] * inner;
            first.Backend.CopyBlock(x.Data, 0, width, y.Data, offset, total * inner, outer, width);
            offset += width;
        }
        return Record(new ConcatOp { _xs = xs.ToArray(), _outer = outer, _inner = inner, _total = total }, y, xs.ToArray());
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        int offset = 0;
        foreach (var x in _xs)
        {
            int width = x.Shape.Elements / Math.Max(1, _outer);
            if (x.RequiresGrad && width > 0)
            {
                x.Backend.CopyBlock(gradOutput.Data, offset, _total * _inner, x.GradData(), 0, width, _outer, width, accumulate: true);
            }
            offset += width;
        }
    }
}

/// <summary>
/// y = x[…, start : start+length, …] along one axis: a view of x's buffer (no copy; a reader that needs contiguity
/// materialises it once). ∂x gets ∂y added into that slice.
/// </summary>
public sealed class SliceOp : Node
{
    private Tensor _x = null!;
    private StridedLayout _inX = null!;

    public static Tensor Apply(Tensor x, int axis, int start, int length)
    {
        OpCheck.Live(nameof(SliceOp), x);
        int ax = x.Shape.Axis(axis);
        if (start < 0 || length < 0 || start + length > x.Shape[ax])
        {
            throw new ArgumentOutOfRangeException(nameof(start),
                $"{nameof(SliceOp)}: [{start}, {start + length}) is outside axis {ax} of shape {x.Shape}.");
        }
        // Within x (for the backward's scatter into ∂x) and within x's root (for reading); the same for a non-view x.
        var inX = StridedLayout.Contiguous(x.Shape.ToArray()).Slice(ax, start, length);
        var y = Tensor.View(x.Root, x.Shape.With(ax, length), x.IsView ? x.Layout.Slice(ax, start, length) : inX);
        var node = new SliceOp { _x = x, _inX = inX };
        return Record(node, y, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_x.RequiresGrad)
        {
            var dx = _x.GradData();
            if (gradOutput.Shape.Elements > 0)
            {
                _x.Backend.ScatterStrided(gradOutput.Data, dx, _inX, accumulate: true);
            }
        }
    }
}
