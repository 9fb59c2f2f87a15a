using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// Multi-head self-attention with RoPE on q and k (MDLM's DDiTBlock): a fused QKV projection
/// h → 3h (columns ordered [q | k | v], each [head 0 | head 1 | …]), attention per head, output projection h → h.
/// Both projections are bias-free, as in MDLM. Bidirectional by default; <c>causal: true</c> lets position i attend
/// only to positions ≤ i (the autoregressive judge, <see cref="CausalTransformer"/>).
/// </summary>
public sealed class MultiHeadSelfAttention : Module
{
    public MultiHeadSelfAttention(Backend backend, int hidden, int heads, float ropeTheta = 10_000f, bool causal = false)
        : base(backend)
    {
        Causal = causal;
        ConfigCheck.Heads(hidden, heads, nameof(MultiHeadSelfAttention));
        Hidden = hidden;
        Heads = heads;
        RopeTheta = ConfigCheck.Above(ropeTheta, 1f, nameof(MultiHeadSelfAttention), nameof(ropeTheta));
        Qkv = AddModule("qkv", new Linear(backend, hidden, 3 * hidden, bias: false));
        Proj = AddModule("out", new Linear(backend, hidden, hidden, bias: false));
    }

    public int Hidden { get; }

    public int Heads { get; }

    public int HeadDim => Hidden / Heads;

    public float RopeTheta { get; }

    /// <summary>True: each position attends to itself and earlier positions only.</summary>
    public bool Causal { get; }

    public Linear Qkv { get; }

    public Linear Proj { get; }

    /// <summary>x (B, T, h) → (B, T, h).</summary>
    public Tensor Forward(Tensor x) => Proj.Forward(Attend(x));

    /// <summary>The attention's merged heads o (B, T, h) for x (B, T, h), before the output projection <see cref="Proj"/>.</summary>
    public Tensor Attend(Tensor x)
    {
        if (x.Shape.Rank != 3 || x.Shape[2] != Hidden)
        {
            throw new ArgumentException($"{nameof(MultiHeadSelfAttention)}: x must be (B, T, {Hidden}) but has shape {x.Shape}.", nameof(x));
        }
        // The attention reads the heads in place from the QKV output (B, T, 3, heads, D) with RoPE inside and
        // writes o as (B, T, h): no head split/merge or rotation copies (forward or backward).
        var qkv = Qkv.Forward(x);                                                     // (B, T, 3h)
        return QkvAttentionOp.Apply(qkv, Heads, RopeTheta, Causal ? AttentionMask.Causal : AttentionMask.None);
    }
}
