using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>The transformer MLP: Linear(h, r·h) → tanh-GELU → Linear(r·h, h), r = 4 by default.</summary>
public sealed class Mlp : Module
{
    public Mlp(Backend backend, int hidden, int ratio = 4)
        : base(backend)
    {
        ConfigCheck.Positive(ratio, nameof(Mlp), nameof(ratio));
        Fc1 = AddModule("fc1", new Linear(backend, hidden, ratio * hidden));
        Fc2 = AddModule("fc2", new Linear(backend, ratio * hidden, hidden));
    }

    public Linear Fc1 { get; }

    public Linear Fc2 { get; }

    public Tensor Forward(Tensor x) => Fc2.Forward(Hidden(x));

    /// <summary>The hidden activations GELU(fc1(x)), before fc2.</summary>
    public Tensor Hidden(Tensor x) => Fc1.Forward(x, Activation.GeluTanh);
}
