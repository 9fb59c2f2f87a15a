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
