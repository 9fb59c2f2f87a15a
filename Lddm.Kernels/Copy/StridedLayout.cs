namespace Lddm.Kernels;

/// <summary>
/// Where the elements of a strided view live in a buffer: element (i₀, …, i_{r−1}) of a view of shape
/// <see cref="Shape"/> is at <see cref="Offset"/> + Σ_d i_d·<see cref="Strides"/>[d]. A row-major contiguous tensor
/// has Strides[d] = Π_{e&gt;d} Shape[e] and offset 0; a transpose permutes the strides, a slice moves the offset and
/// shortens an axis, a broadcast (gather only) has stride 0. Immutable; the view ops return new layouts.
/// </summary>
public sealed class StridedLayout
{
    /// <summary>The most axes a layout may have once its size-1 axes are dropped and contiguous runs merged.</summary>
    public const int MaxRank = 8;

    private readonly int[] _shape, _strides;

    /// <summary>The layout with size-1 axes dropped and contiguous runs merged (<see cref="Collapsed"/>), made once.</summary>
    private readonly int[] _mergedShape, _mergedStrides;

    public StridedLayout(int offset, int[] shape, int[] strides)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(strides);
        if (shape.Length != strides.Length)
        {
            throw new ArgumentException($"StridedLayout: {shape.Length} dimensions but {strides.Length} strides.", nameof(strides));
        }
        if (offset < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, "StridedLayout: the offset must be non-negative.");
        }
        long elements = 1, extent = offset;
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] < 0 || strides[d] < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(shape),
                    $"StridedLayout: axis {d} has size {shape[d]} and stride {strides[d]}; both must be non-negative.");
            }
            elements *= shape[d];
            extent += (long)Math.Max(0, shape[d] - 1) * strides[d];
        }
        if (elements > int.MaxValue || extent >= int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(shape), "StridedLayout: the view or its extent exceeds 2³¹ − 1 elements.");
        }
        Offset = offset;
        _shape = (int[])shape.Clone();
        _strides = (int[])strides.Clone();
        Elements = (int)elements;
        // One past the last element read or written (the offset itself when the view is empty).
        Extent = elements == 0 ? offset : (int)extent + 1;
        (_mergedShape, _mergedStrides) = Merge(_shape, _strides);
        IsContiguous = Elements == 0 || _mergedShape.Length == 0 || (_mergedShape.Length == 1 && _mergedStrides[0] == 1);
    }

    /// <summary>The row-major layout of a contiguous tensor of <paramref name="shape"/> at offset 0.</summary>
    public static StridedLayout Contiguous(params int[] shape) => new(0, shape, ContiguousStrides(shape));

    public int Offset { get; }

    public IReadOnlyList<int> Shape => _shape;

    public IReadOnlyList<int> Strides => _strides;

    public int Rank => _shape.Length;

    public int Elements { get; }

    /// <summary>One past the highest buffer index the view touches: the buffer needs at least this many elements.</summary>
    public int Extent { get; }

    /// <summary>Whether the view is a contiguous row-major run of the buffer (starting at <see cref="Offset"/>).</summary>
    public bool IsContiguous { get; }

    /// <summary>
    /// Whether no two elements of the view share a buffer position (so a scatter through it is well defined). Checked
    /// sufficiently: with the axes of size &gt; 1 ordered by stride, each stride is at least the previous axis's span.
    /// </summary>
    public bool IsInjective
    {
        get
        {
            if (Elements == 0)
            {
                return true;
            }
            var axes = Enumerable.Range(0, Rank).Where(d => _shape[d] > 1).OrderBy(d => _strides[d]).ToArray();
            long span = 1;
            foreach (int d in axes)
            {
                if (_strides[d] < span)
                {
                    return false;
                }
                span = (long)_strides[d] * _shape[d];
            }
            return true;
        }
    }

    /// <summary>The layout with axes <paramref name="i"/> and <paramref name="j"/> swapped (a transpose, no copy).</summary>
    public StridedLayout SwapAxes(int i, int j)
    {
        CheckAxis(i, nameof(i));
        CheckAxis(j, nameof(j));
        int[] shape = (int[])_shape.Clone(), strides = (int[])_strides.Clone();
        (shape[i], shape[j]) = (shape[j], shape[i]);
        (strides[i], strides[j]) = (strides[j], strides[i]);
        return new StridedLayout(Offset, shape, strides);
    }

    /// <summary>The layout of [start, start + length) along <paramref name="axis"/> (a slice, no copy).</summary>
    public StridedLayout Slice(int axis, int start, int length)
    {
        CheckAxis(axis, nameof(axis));
        if (start < 0 || length < 0 || (long)start + length > _shape[axis])
        {
            throw new ArgumentOutOfRangeException(nameof(start),
                $"StridedLayout: [{start}, {(long)start + length}) is outside axis {axis} of size {_shape[axis]}.");
        }
        int[] shape = (int[])_shape.Clone();
        shape[axis] = length;
        long offset = length == 0 ? Offset : Offset + (long)start * _strides[axis];
        return new StridedLayout((int)offset, shape, _strides);
    }

    /// <summary>
    /// The same element order with size-1 axes dropped and runs of axes that are contiguous in each other merged
    /// (axis d folds into d + 1 when Strides[d] = Strides[d+1]·Shape[d+1]): fewer, longer loops for the kernels.
    /// </summary>
    public (int[] Shape, int[] Strides) Collapsed() => ((int[])_mergedShape.Clone(), (int[])_mergedStrides.Clone());

    /// <summary><see cref="Collapsed"/> without the copies, for the kernels (read only).</summary>
    internal int[] MergedShape => _mergedShape;

    /// <summary>The strides of <see cref="MergedShape"/> (read only).</summary>
    internal int[] MergedStrides => _mergedStrides;

    private static (int[] Shape, int[] Strides) Merge(int[] dims, int[] steps)
    {
        var shape = new List<int>();
        var strides = new List<int>();
        for (int d = 0; d < dims.Length; d++)
        {
            if (dims[d] == 1)
            {
                continue;
            }
            if (shape.Count > 0 && strides[^1] == (long)steps[d] * dims[d])
            {
                shape[^1] *= dims[d];
                strides[^1] = steps[d];
            }
            else
            {
                shape.Add(dims[d]);
                strides.Add(steps[d]);
            }
        }
        return ([.. shape], [.. strides]);
    }

    public override string ToString() => $"offset {Offset}, shape ({string.Join(", ", _shape)}), strides ({string.Join(", ", _strides)})";

    internal static int[] ContiguousStrides(IReadOnlyList<int> shape)
    {
        var strides = new int[shape.Count];
        long s = 1;
        for (int d = shape.Count - 1; d >= 0; d--)
        {
            strides[d] = (int)Math.Min(s, int.MaxValue);
            s *= Math.Max(1, shape[d]);
        }
        return strides;
    }

    private void CheckAxis(int axis, string name)
    {
        if (axis < 0 || axis >= Rank)
        {
            throw new ArgumentOutOfRangeException(name, axis, $"StridedLayout: axis {axis} is outside a rank-{Rank} layout.");
        }
    }
}
