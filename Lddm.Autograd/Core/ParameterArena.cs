using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// One flat device buffer for the weights of a list of parameters and one for their gradients: each parameter's
/// <see cref="Tensor.Data"/> becomes a slice of <see cref="Data"/> and its gradient, from the next backward on, a slice
/// of <see cref="Grads"/> (allocated once, never freed by <c>ZeroGrad</c>). Optimizer state allocated the same way
/// (<see cref="Allocate"/>) lets AdamW, the EMA, the gradient norm and the clip run as one launch over the whole
/// arena instead of one per tensor. Slices start on multiples of <see cref="Alignment"/> elements; the gaps between
/// them are zero in every arena buffer and stay zero under those element-wise updates (a zero weight with a zero
/// gradient and zero moments is a fixed point of AdamW, the EMA and the clip).
/// The arena must outlive its parameters' use: dispose it after the module.
/// </summary>
public sealed class ParameterArena : IDisposable
{
    /// <summary>Slice starts are multiples of this many floats (256 bytes: any vector load is aligned).</summary>
    public const int Alignment = 64;

    private readonly Parameter[] _parameters;
    private readonly int[] _offsets;
    private readonly DeviceBuffer<float>[] _gradSlices;

    private ParameterArena(Backend backend, Parameter[] parameters)
    {
        Backend = backend;
        _parameters = parameters;
        _offsets = new int[parameters.Length];
        long total = 0;
        for (int i = 0; i < parameters.Length; i++)
        {
            _offsets[i] = (int)total;
            total += (parameters[i].Shape.Elements + Alignment - 1) / Alignment * Alignment;
        }
        if (total > int.MaxValue)
        {
            throw new ArgumentException($"The parameters hold {total} elements with padding, more than one buffer can ({int.MaxValue}).");
        }
        Length = (int)total;
        Data = backend.Full(Length, 0f);
        Grads = backend.Full(Length, 0f);
        _gradSlices = new DeviceBuffer<float>[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            var data = Data.Slice(_offsets[i], p.Shape.Elements);
            backend.Axpby(1f, p.Data, 0f, data);
            _gradSlices[i] = Grads.Slice(_offsets[i], p.Shape.Elements);
            p.MoveInto(this, i, data, _gradSlices[i]);
        }
    }

    /// <summary>
    /// Moves <paramref name="parameters"/> (distinct, none in an arena yet, all on one backend) into a new arena;
    /// null when they do not qualify (empty, repeated, already in an arena, or on several backends) — then everything
    /// runs per tensor as before.
    /// </summary>
    public static ParameterArena? TryCreate(IEnumerable<Parameter> parameters)
    {
        var list = parameters.ToArray();
        if (list.Length == 0 || list.Distinct().Count() != list.Length || list.Any(p => p.Arena is not null || p.IsDisposed)
            || list.Any(p => !ReferenceEquals(p.Backend, list[0].Backend)))
        {
            return null;
        }
        return new ParameterArena(list[0].Backend, list);
    }

    public Backend Backend { get; }

    /// <summary>Elements in each arena buffer (the parameters' elements plus alignment padding).</summary>
    public int Length { get; }

    /// <summary>The weights of every parameter (and zero padding).</summary>
    public DeviceBuffer<float> Data { get; }

    /// <summary>The gradient of every parameter (and zero padding).</summary>
    public DeviceBuffer<float> Grads { get; }

    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Where parameter <paramref name="index"/> starts in every arena buffer.</summary>
    public int Offset(int index) => _offsets[index];

    /// <summary>The gradient slices, in parameter order.</summary>
    public IReadOnlyList<DeviceBuffer<float>> GradSlices => _gradSlices;

    /// <summary>
    /// True when <paramref name="parameters"/> are exactly this arena's, in its order — then a flat update over
    /// the arena updates exactly them.
    /// </summary>
    public bool Covers(IReadOnlyList<Parameter> parameters)
    {
        if (parameters.Count != _parameters.Length)
        {
            return false;
        }
        for (int i = 0; i < parameters.Count; i++)
        {
            if (!ReferenceEquals(parameters[i], _parameters[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// True when every parameter has a gradient this step and it is its arena slice (not a buffer of its own), so
    /// <see cref="Grads"/> holds every gradient and zero elsewhere; false means some parameter got no gradient, and
    /// updates must go per tensor to leave it untouched.
    /// </summary>
    public bool AllGradientsInPlace()
    {
        for (int i = 0; i < _parameters.Length; i++)
        {
            if (_parameters[i].Grad is not { } g || !ReferenceEquals(g.Data, _gradSlices[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>A zero-filled buffer laid out like the arena, and its per-parameter slices (for optimizer state).</summary>
    public (DeviceBuffer<float> Flat, DeviceBuffer<float>[] Slices) Allocate()
    {
        var flat = Backend.Full(Length, 0f);
        return (flat, [.. _parameters.Select((p, i) => flat.Slice(_offsets[i], p.Shape.Elements))]);
    }

    public void Dispose()
    {
        Data.Dispose();
        Grads.Dispose();
    }
}
