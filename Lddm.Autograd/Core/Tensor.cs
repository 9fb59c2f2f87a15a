using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// A float32 tensor: a shape and a contiguous row-major device buffer, plus an optional gradient. A <em>view</em>
/// (made by <see cref="TransposeOp"/>, <see cref="SliceOp"/>, or <see cref="ReshapeOp"/> of a view) has no buffer of
/// its own: it reads its root tensor's buffer through a <see cref="StridedLayout"/>. Ops that can read strides
/// (<see cref="MatmulOp"/> reads a transposed view through its transpose flag) use the root directly; any other
/// reader of <see cref="Data"/> gets the view materialised once, contiguously, on first use.
/// Tensors produced by ops inside a <see cref="Tape"/> belong to that tape and die with it; tensors made by
/// the factory methods belong to the caller (dispose them). Parameters belong to their module.
/// </summary>
public class Tensor : IDisposable
{
    private readonly bool _ownsData;
    private readonly Tensor? _root;
    private readonly StridedLayout? _layout;
    private DeviceBuffer<float>? _data;
    private bool _disposed;

    internal Tensor(Shape shape, DeviceBuffer<float> data, bool ownsData)
    {
        if (data.Length != shape.Elements)
        {
            throw new ArgumentException($"A tensor of shape {shape} needs {shape.Elements} elements but the buffer has {data.Length}.");
        }
        Shape = shape;
        Data = data;
        _ownsData = ownsData;
    }

    /// <summary>A view of <paramref name="root"/> (a tensor with a buffer of its own) through <paramref name="layout"/>.</summary>
    private Tensor(Shape shape, Tensor root, StridedLayout layout)
    {
        if (root._layout is not null || layout.Elements != shape.Elements || layout.Extent > root.Shape.Elements)
        {
            throw new ArgumentException($"A view of shape {shape} ({layout}) does not fit its root tensor of shape {root.Shape}.");
        }
        Shape = shape;
        _root = root;
        _layout = layout;
        _ownsData = true;
    }

    public Shape Shape { get; }

    /// <summary>The tensor's contiguous row-major buffer (for a view: materialised from its root on first use).</summary>
    public DeviceBuffer<float> Data
    {
        get => _data ?? Materialize();
        private protected set => _data = value;
    }

    /// <summary>Whether this tensor is a view of another's buffer (see <see cref="Root"/> and <see cref="Layout"/>).</summary>
    public bool IsView => _layout is not null;

    /// <summary>The tensor whose buffer this one reads: itself, or a view's root (never a view).</summary>
    internal Tensor Root => _root ?? this;

    /// <summary>Where this tensor's elements are in <see cref="Root"/>'s buffer (row-major contiguous for a non-view).</summary>
    internal StridedLayout Layout => _layout ?? StridedLayout.Contiguous(Shape.ToArray());

    /// <summary>Where this tensor's gradient lives when it is a parameter in a <see cref="ParameterArena"/> (else null).</summary>
    private protected DeviceBuffer<float>? GradSlot { get; set; }

    public Backend Backend => _root?.Backend ?? Data.Backend;

    /// <summary>The gradient of the last <see cref="Backward()"/> with respect to this tensor, if one reached it.</summary>
    public Tensor? Grad { get; private set; }

    /// <summary>Whether gradients flow to this tensor. Set it on leaves; ops derive it from their inputs.</summary>
    public bool RequiresGrad { get; set; }

    /// <summary>The op that produced this tensor on the current tape (null for leaves).</summary>
    internal Node? Creator { get; set; }

    public bool IsDisposed => _disposed;

    /// <summary>An uninitialised tensor; ops use it for outputs they fully write.</summary>
    public static Tensor Empty(Backend backend, Shape shape) => Tape.Track(new Tensor(shape, backend.Allocate<float>(shape.Elements), true));

    public static Tensor Zeros(Backend backend, Shape shape)
    {
        var t = Empty(backend, shape);
        t.Data.Fill(0f);
        return t;
    }

    public static Tensor Full(Backend backend, Shape shape, float value)
    {
        var t = Empty(backend, shape);
        t.Data.Fill(value);
        return t;
    }

    /// <summary>A tensor holding <paramref name="values"/> (exactly shape.Elements of them).</summary>
    public static Tensor FromArray(Backend backend, ReadOnlySpan<float> values, params int[] shape)
    {
        var s = new Shape(shape);
        if (values.Length != s.Elements)
        {
            throw new ArgumentException($"FromArray: {values.Length} values do not fill shape {s} ({s.Elements} elements).", nameof(values));
        }
        var t = Empty(backend, s);
        t.Data.CopyFrom(values);
        return t;
    }

    public float[] ToArray() => Data.ToArray();

    /// <summary>The single value of a one-element tensor.</summary>
    public float Item()
    {
        if (Shape.Elements != 1)
        {
            throw new InvalidOperationException($"Item() needs a one-element tensor but the shape is {Shape}.");
        }
        return Data.ToArray()[0];
    }

    /// <summary>Back-propagates from this one-element tensor (typically a loss) through the current tape.</summary>
    public void Backward() => Tape.Backward(this, null);

    /// <summary>
    /// Back-propagates from this tensor with an explicit upstream gradient of the same shape
    /// (∂L/∂this = <paramref name="gradient"/>), as for a vector-Jacobian product.
    /// </summary>
    public void Backward(ReadOnlySpan<float> gradient)
    {
        if (gradient.Length != Shape.Elements)
        {
            throw new ArgumentException($"Backward: the gradient has {gradient.Length} values but the tensor's shape {Shape} has {Shape.Elements}.", nameof(gradient));
        }
        Tape.Backward(this, gradient.ToArray());
    }

    /// <summary>The gradient buffer, allocated and zero-filled on first use; backward kernels add into it.</summary>
    internal DeviceBuffer<float> GradData()
    {
        if (Grad is null)
        {
            // Gradients are owned by their tensor, not the tape: a parameter's gradient outlives the step.
            Grad = NewGrad();
            Grad.Data.Fill(0f);
        }
        return Grad.Data;
    }

    /// <summary>
    /// The gradient buffer for a backward that overwrites every element of it when it is the first writer:
    /// <paramref name="beta"/> = 0 when the buffer was just allocated (not zero-filled: the caller must write all of
    /// it, e.g. a GEMM or Axpby with β = 0), 1 when an earlier consumer already wrote it (the caller adds, β = 1).
    /// Saves the zero fill and the read of zeros on the common single-consumer path.
    /// </summary>
    internal DeviceBuffer<float> GradForWrite(out float beta)
    {
        if (Grad is null)
        {
            Grad = NewGrad();
            beta = 0f;
        }
        else
        {
            beta = 1f;
        }
        return Grad.Data;
    }

    /// <summary>A fresh (unwritten) gradient tensor: the arena slot of a parameter, else a new pooled buffer.</summary>
    private Tensor NewGrad() => GradSlot is { } slot
        ? new Tensor(Shape, slot, ownsData: false)
        : new Tensor(Shape, Backend.Allocate<float>(Shape.Elements), true);

    /// <summary>Drops the gradient (frees it; an arena slot stays, for the next step).</summary>
    public void ClearGrad()
    {
        Grad?.Dispose();
        Grad = null;
    }

    internal void ThrowIfDisposed(string op)
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(nameof(Tensor), $"{op}: a tensor of shape {Shape} was used after it was disposed.");
        }
    }

    /// <summary>
    /// A view with another shape of the same element count, sharing this tensor's buffer (a view that is a contiguous
    /// run of its root stays a view of the root; any other view is materialised first).
    /// </summary>
    internal Tensor ViewAs(Shape shape)
    {
        if (_layout is { IsContiguous: true } layout)
        {
            var dims = shape.ToArray();
            return View(_root!, shape, new StridedLayout(layout.Offset, dims, StridedLayout.Contiguous(dims).Strides.ToArray()));
        }
        return Tape.Track(new Tensor(shape, Data, ownsData: false));
    }

    /// <summary>A view of <paramref name="root"/>'s buffer (root itself not a view) with <paramref name="shape"/> and <paramref name="layout"/>.</summary>
    internal static Tensor View(Tensor root, Shape shape, StridedLayout layout) => Tape.Track(new Tensor(shape, root, layout));

    /// <summary>
    /// If this tensor is its root with the last two axes swapped (a <see cref="TransposeOp"/> of them), that root;
    /// else null. A GEMM reads such a view through its transpose flag instead of materialising it.
    /// </summary>
    internal Tensor? LastAxesTransposeOf()
    {
        if (_layout is not { } layout || _root!.Shape.Rank != Shape.Rank || Shape.Rank < 2)
        {
            return null;
        }
        var expected = _root.Layout.SwapAxes(Shape.Rank - 2, Shape.Rank - 1);
        return layout.Offset == 0 && layout.Shape.SequenceEqual(expected.Shape) && layout.Strides.SequenceEqual(expected.Strides)
            ? _root
            : null;
    }

    private DeviceBuffer<float> Materialize()
    {
        if (_layout is not { } layout)
        {
            throw new InvalidOperationException("A tensor without a buffer that is not a view.");
        }
        ThrowIfDisposed("Data");
        _root!.ThrowIfDisposed("Data (of a view's root)");
        if (layout.IsContiguous)
        {
            _data = _root.Data.Slice(layout.Offset, layout.Elements);
        }
        else
        {
            var data = _root.Backend.Allocate<float>(layout.Elements);
            _root.Backend.GatherStrided(_root.Data, layout, data);
            _data = data;
        }
        return _data;
    }

    protected virtual void Dispose(bool disposing)
    {
        if (_ownsData)
        {
            _data?.Dispose();
        }
        ClearGrad();
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    public override string ToString() => $"Tensor{Shape} on {Backend.Name}";
}
