namespace Lddm.Autograd;

/// <summary>y = x viewed with another shape of the same element count (no copy); ∂x += ∂y (written when first).</summary>
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

/// <summary>Swaps two axes (a copy); the backward swaps them back into ∂x (straight in when first, else added).</summary>
public sealed class TransposeOp : Node
{
    private Tensor _x = null!;
    private int _outer, _a, _middle, _b, _inner;

    public static Tensor Apply(Tensor x, int axis0, int axis1)
    {
        OpCheck.Live(nameof(TransposeOp), x);
        int i = x.Shape.Axis(axis0), j = x.Shape.Axis(axis1);
        if (i > j)
        {
            (i, j) = (j, i);
        }
        var dims = x.Shape.ToArray();
        (dims[i], dims[j]) = (dims[j], dims[i]);
        var y = Tensor.Empty(x.Backend, new Shape(dims));
        var node = new TransposeOp
        {
            _x = x,
            _outer = x.Shape.Product(0, i),
            _a = x.Shape[i],
            _middle = x.Shape.Product(i + 1, j),
            _b = x.Shape[j],
            _inner = x.Shape.Product(j + 1, x.Shape.Rank),
        };
        x.Backend.SwapAxes(x.Data, node._outer, node._a, node._middle, node._b, node._inner, y.Data);
        return Record(node, y, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (!_x.RequiresGrad)
        {
            return;
        }
        var backend = _x.Backend;
        var dx = _x.GradForWrite(out float beta);
        if (beta == 0f)
        {
            backend.SwapAxes(gradOutput.Data, _outer, _b, _middle, _a, _inner, dx);
            return;
        }
        using var swapped = backend.Allocate<float>(gradOutput.Shape.Elements);
        backend.SwapAxes(gradOutput.Data, _outer, _b, _middle, _a, _inner, swapped);
        backend.Axpby(1f, swapped, 1f, dx);
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

/// <summary>y = x[…, start : start+length, …] along one axis (a copy); ∂x gets ∂y added into that slice.</summary>
public sealed class SliceOp : Node
{
    private Tensor _x = null!;
    private int _outer, _rowIn, _rowOut, _offset;

    public static Tensor Apply(Tensor x, int axis, int start, int length)
    {
        OpCheck.Live(nameof(SliceOp), x);
        int ax = x.Shape.Axis(axis);
        if (start < 0 || length < 0 || start + length > x.Shape[ax])
        {
            throw new ArgumentOutOfRangeException(nameof(start),
                $"{nameof(SliceOp)}: [{start}, {start + length}) is outside axis {ax} of shape {x.Shape}.");
        }
        int outer = x.Shape.Product(0, ax), inner = x.Shape.Product(ax + 1, x.Shape.Rank);
        var y = Tensor.Empty(x.Backend, x.Shape.With(ax, length));
        var node = new SliceOp { _x = x, _outer = outer, _rowIn = x.Shape[ax] * inner, _rowOut = length * inner, _offset = start * inner };
        x.Backend.CopyBlock(x.Data, node._offset, node._rowIn, y.Data, 0, node._rowOut, outer, node._rowOut);
        return Record(node, y, x);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        if (_x.RequiresGrad)
        {
            _x.Backend.CopyBlock(gradOutput.Data, 0, _rowOut, _x.GradData(), _offset, _rowIn, _outer, _rowOut, accumulate: true);
        }
    }
}
