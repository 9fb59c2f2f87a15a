namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// Swaps two axes: x viewed as (outer, a, middle, b, inner) is written to dst as (outer, b, middle, a, inner).
    /// Any transpose of two axes of a row-major tensor has this form (e.g. (B, T, H, D) → (B, H, T, D) is
    /// outer = B, a = T, middle = 1, b = H, inner = D). dst must not alias x.
    /// </summary>
    public void SwapAxes(DeviceBuffer<float> x, int outer, int a, int middle, int b, int inner, DeviceBuffer<float> dst)
    {
        const string k = nameof(SwapAxes);
        foreach (var (v, n) in new[] { (outer, nameof(outer)), (a, nameof(a)), (middle, nameof(middle)), (b, nameof(b)), (inner, nameof(inner)) })
        {
            Check.NonNegative(v, k, n);
        }
        int count = Check.Elements(k, outer, a, middle, b, inner);
        string shape = $"(outer {outer}, a {a}, middle {middle}, b {b}, inner {inner})";
        Check.Buffer(this, x, count, k, nameof(x), shape);
        Check.Buffer(this, dst, count, k, nameof(dst), shape);
        if (ReferenceEquals(x, dst))
        {
            throw new ArgumentException($"{k}: 'dst' must not alias 'x'.", nameof(dst));
        }
        if (count > 0)
        {
            SwapAxesCore(x, outer, a, middle, b, inner, dst);
        }
    }

    /// <summary>
    /// Copies a block of <paramref name="rows"/> × <paramref name="cols"/> elements:
    /// dst[dstOffset + r·dstStride + c] (+)= src[srcOffset + r·srcStride + c]. With <paramref name="accumulate"/>
    /// it adds (the backward of a slice or concat). This is concat/slice along any axis: view the tensor as
    /// (outer, axis·inner) and copy column blocks.
    /// </summary>
    public void CopyBlock(DeviceBuffer<float> src, int srcOffset, int srcStride, DeviceBuffer<float> dst, int dstOffset,
        int dstStride, int rows, int cols, bool accumulate = false)
    {
        const string k = nameof(CopyBlock);
        Check.NonNegative(rows, k, nameof(rows));
        Check.NonNegative(cols, k, nameof(cols));
        Check.NonNegative(srcOffset, k, nameof(srcOffset));
        Check.NonNegative(dstOffset, k, nameof(dstOffset));
        Check.Buffer(this, src, src?.Length ?? 0, k, nameof(src), "(any)");
        Check.Buffer(this, dst, dst?.Length ?? 0, k, nameof(dst), "(any)");
        if (rows == 0 || cols == 0)
        {
            return;
        }
        CheckBlock(k, nameof(src), src!.Length, srcOffset, srcStride, rows, cols);
        CheckBlock(k, nameof(dst), dst!.Length, dstOffset, dstStride, rows, cols);
        CopyBlockCore(src, srcOffset, srcStride, dst, dstOffset, dstStride, rows, cols, accumulate);
    }

    /// <summary>
    /// Gathers a strided view into a contiguous tensor: dst[i] (+)= src[layout.Offset + Σ_d i_d·layout.Strides[d]] for
    /// every index i = (i₀, …) of layout.Shape, dst row-major. This materialises a transposed, sliced or broadcast view
    /// for a kernel that needs contiguous input. dst must not alias src.
    /// </summary>
    public void GatherStrided(DeviceBuffer<float> src, StridedLayout layout, DeviceBuffer<float> dst, bool accumulate = false)
    {
        const string k = nameof(GatherStrided);
        ArgumentNullException.ThrowIfNull(layout);
        Check.Buffer(this, src, src?.Length ?? 0, k, nameof(src), "(any)");
        Check.Buffer(this, dst, layout.Elements, k, nameof(dst), $"({string.Join(", ", layout.Shape)})");
        CheckStrided(k, nameof(src), src!, dst, layout);
        if (layout.Elements > 0)
        {
            StridedCore(dst, src!, layout, scatter: false, accumulate);
        }
    }

    /// <summary>
    /// Scatters a contiguous tensor into a strided view: dst[layout.Offset + Σ_d i_d·layout.Strides[d]] (+)= src[i]
    /// (the backward of a view op: the view's gradient goes back to its base's positions). The layout must not map
    /// two indices to one position; positions outside it are untouched. dst must not alias src.
    /// </summary>
    public void ScatterStrided(DeviceBuffer<float> src, DeviceBuffer<float> dst, StridedLayout layout, bool accumulate = false)
    {
        const string k = nameof(ScatterStrided);
        ArgumentNullException.ThrowIfNull(layout);
        Check.Buffer(this, src, layout.Elements, k, nameof(src), $"({string.Join(", ", layout.Shape)})");
        Check.Buffer(this, dst, dst?.Length ?? 0, k, nameof(dst), "(any)");
        CheckStrided(k, nameof(dst), dst!, src, layout);
        if (!layout.IsInjective)
        {
            throw new ArgumentException($"{k}: the layout ({layout}) maps two elements to one position; a scatter through it is ambiguous.",
                nameof(layout));
        }
        if (layout.Elements > 0)
        {
            StridedCore(src, dst!, layout, scatter: true, accumulate);
        }
    }

    /// <summary>
    /// The strided copy of <see cref="GatherStrided"/> (scatter = false: strided → contiguous) and
    /// <see cref="ScatterStrided"/> (scatter = true: contiguous → strided); arguments already checked, at least one element.
    /// </summary>
    protected abstract void StridedCore(DeviceBuffer<float> contiguous, DeviceBuffer<float> strided, StridedLayout layout,
        bool scatter, bool accumulate);

    private static void CheckStrided(string k, string name, DeviceBuffer<float> strided, DeviceBuffer<float> other, StridedLayout layout)
    {
        if (layout.Extent > strided.Length)
        {
            throw new ArgumentException($"{k}: the view ({layout}) reaches element {layout.Extent} but '{name}' has {strided.Length}.", name);
        }
        if (ReferenceEquals(strided, other))
        {
            throw new ArgumentException($"{k}: 'dst' must not alias 'src'.", "dst");
        }
        int[] shape = layout.MergedShape;
        if (shape.Length > StridedLayout.MaxRank)
        {
            throw new ArgumentException(
                $"{k}: the view ({layout}) has {shape.Length} axes after merging contiguous ones; at most {StridedLayout.MaxRank} are supported.",
                nameof(layout));
        }
    }

    protected abstract void SwapAxesCore(DeviceBuffer<float> x, int outer, int a, int middle, int b, int inner, DeviceBuffer<float> dst);

    protected abstract void CopyBlockCore(DeviceBuffer<float> src, int srcOffset, int srcStride, DeviceBuffer<float> dst,
        int dstOffset, int dstStride, int rows, int cols, bool accumulate);

    private static void CheckBlock(string k, string name, int length, int offset, int stride, int rows, int cols)
    {
        if (stride < cols)
        {
            throw new ArgumentOutOfRangeException(name + "Stride", stride, $"{k}: '{name}' stride {stride} is smaller than the block width {cols}.");
        }
        long last = offset + (long)(rows - 1) * stride + cols;
        if (last > length)
        {
            throw new ArgumentException(
                $"{k}: a {rows}x{cols} block at offset {offset} with stride {stride} ends at element {last} but '{name}' has {length}.", name);
        }
    }
}
