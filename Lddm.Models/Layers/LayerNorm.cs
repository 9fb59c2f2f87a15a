using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// LayerNorm over the last axis, y = (x − mean)/√(var + ε)·γ + β; without affine (DiT's blocks) there is no
/// γ, β and no parameter.
/// </summary>
public sealed class LayerNorm : Module
{
    public LayerNorm(Backend backend, int dim, bool affine = true, float epsilon = 1e-5f)
        : base(backend)
    {
        Dim = ConfigCheck.Positive(dim, nameof(LayerNorm), nameof(dim));
        Epsilon = ConfigCheck.Above(epsilon, 0f, nameof(LayerNorm), nameof(epsilon));
        if (affine)
        {
            Gamma = AddParameter("weight", Init.Ones, dim);
            Beta = AddParameter("bias", Init.Zeros, dim);
        }
    }

    public int Dim { get; }

    public float Epsilon { get; }

    public Parameter? Gamma { get; }

    public Parameter? Beta { get; }

    public Tensor Forward(Tensor x) => LayerNormOp.Apply(x, Gamma, Beta, Epsilon);
}
