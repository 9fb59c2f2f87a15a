using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>A trainable tensor owned by a module; never tracked by a tape, always requires a gradient.</summary>
public sealed class Parameter : Tensor
{
    public Parameter(Backend backend, params int[] shape)
        : base(new Shape(shape), backend.Allocate<float>(new Shape(shape).Elements), ownsData: true)
    {
        RequiresGrad = true;
        Data.Fill(0f);
    }

    /// <summary>The flat arena this parameter's weights and gradient live in (null when it has buffers of its own).</summary>
    public ParameterArena? Arena { get; private set; }

    /// <summary>This parameter's position in <see cref="Arena"/>'s list.</summary>
    internal int ArenaIndex { get; private set; } = -1;

    /// <summary>
    /// Moves the weights into <paramref name="data"/> (a slice of the arena, already holding a copy of them) and the
    /// gradient to <paramref name="grad"/> from the next backward on; the old weight buffer is freed.
    /// </summary>
    internal void MoveInto(ParameterArena arena, int index, DeviceBuffer<float> data, DeviceBuffer<float> grad)
    {
        var old = Data;
        Data = data;
        GradSlot = grad;
        Arena = arena;
        ArenaIndex = index;
        old.Dispose();
    }

    /// <summary>Copies <paramref name="values"/> into the parameter (exactly its element count).</summary>
    public void Load(ReadOnlySpan<float> values)
    {
        if (values.Length != Shape.Elements)
        {
            throw new ArgumentException($"Parameter of shape {Shape} needs {Shape.Elements} values but got {values.Length}.", nameof(values));
        }
        Data.CopyFrom(values);
    }
}
