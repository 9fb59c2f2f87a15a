using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// DiT's output head: (shift, scale) = Linear(SiLU(c)), logits = Linear(modulate(LN(x), shift, scale)).
/// Both Linears are zero-initialised by default, so a fresh model predicts uniform logits (§9.3); a head whose output
/// must carry information from the start (the latent encoder's) passes its own <c>projectionInit</c>.
/// </summary>
public sealed class FinalLayer : Module
{
    public FinalLayer(Backend backend, int hidden, int condDim, int outFeatures, Init? projectionInit = null)
        : base(backend)
    {
        Hidden = ConfigCheck.Positive(hidden, nameof(FinalLayer), nameof(hidden));
        Norm = AddModule("norm", new LayerNorm(backend, hidden, affine: false));
        Modulation = AddModule("modulation", new Linear(backend, condDim, 2 * hidden, weightInit: Init.Zeros));
        Proj = AddModule("linear", new Linear(backend, hidden, outFeatures, weightInit: projectionInit ?? Init.Zeros));
    }

    public int Hidden { get; }

    public LayerNorm Norm { get; }

    /// <summary>cond → 2h: [shift | scale].</summary>
    public Linear Modulation { get; }

    public Linear Proj { get; }

    /// <summary>x (B, T, h), c (B, cond) → (B, T, out).</summary>
    public Tensor Forward(Tensor x, Tensor c) => Proj.Forward(Features(x, c));

    /// <summary>x (B, T, h), c (B, cond) → modulate(LN(x), shift, scale) (B, T, h): what the output projection reads.</summary>
    public Tensor Features(Tensor x, Tensor c)
    {
        var mod = Modulation.Forward(BiasActivationOp.Apply(c, null, Activation.Silu)); // (B, 2h)
        var shift = SliceOp.Apply(mod, 1, 0, Hidden);
        var scale = SliceOp.Apply(mod, 1, Hidden, Hidden);
        return ModulateOp.Apply(Norm.Forward(x), shift, scale);
    }
}
