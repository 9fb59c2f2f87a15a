using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// A pre-LN decoder block (GPT-2 layout): x ← x + Attn_causal(LN₁(x)), x ← x + MLP(LN₂(x)), affine LayerNorms,
/// RoPE in the attention, tanh-GELU MLP of ratio 4. Dropout (training only) acts on both branch outputs.
/// </summary>
public sealed class CausalBlock : Module
{
    public CausalBlock(Backend backend, int hidden, int heads, int mlpRatio, float ropeTheta, float dropout)
        : base(backend)
    {
        Dropout = ConfigCheck.Probability(dropout, nameof(CausalBlock), nameof(dropout));
        Norm1 = AddModule("norm1", new LayerNorm(backend, hidden));
        Attn = AddModule("attn", new MultiHeadSelfAttention(backend, hidden, heads, ropeTheta, causal: true));
        Norm2 = AddModule("norm2", new LayerNorm(backend, hidden));
        Mlp = AddModule("mlp", new Mlp(backend, hidden, mlpRatio));
    }

    public float Dropout { get; }

    public LayerNorm Norm1 { get; }

    public MultiHeadSelfAttention Attn { get; }

    public LayerNorm Norm2 { get; }

    public Mlp Mlp { get; }

    /// <summary>x (B, T, h) → (B, T, h).</summary>
    public Tensor Forward(Tensor x, DropoutRng? dropout = null)
    {
        x = AddOp.Apply(x, Drop(Attn.Forward(Norm1.Forward(x)), dropout));
        return AddOp.Apply(x, Drop(Mlp.Forward(Norm2.Forward(x)), dropout));
    }

    private Tensor Drop(Tensor x, DropoutRng? rng)
    {
        if (!Training || Dropout == 0f)
        {
            return x;
        }
        if (rng is null)
        {
            throw new InvalidOperationException(
                $"{nameof(CausalBlock)}: dropout is {Dropout} in training mode but no {nameof(DropoutRng)} was given to Forward.");
        }
        return rng.Apply(x, Dropout);
    }
}
