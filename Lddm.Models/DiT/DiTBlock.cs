using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// A DiT block with adaLN-zero (Peebles &amp; Xie; MDLM's DDiTBlock). From the conditioning c (B, cond), pre-SiLU:
/// (shift, scale, gate)ₐ, (shift, scale, gate)ₘ = Linear(SiLU(c)), each (B, h); then
///   x ← x + gateₐ · Attn(modulate(LN(x), shiftₐ, scaleₐ))
///   x ← x + gateₘ · MLP(modulate(LN(x), shiftₘ, scaleₘ)),   modulate(u, s, k) = u·(1 + k) + s.
/// The modulation Linear is zero-initialised, so a fresh block is the identity. LayerNorms carry no affine.
/// Dropout (training only) acts on the attention and MLP outputs before the gate.
/// </summary>
public sealed class DiTBlock : Module
{
    public DiTBlock(Backend backend, DiTBlockConfig config)
        : base(backend)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Norm1 = AddModule("norm1", new LayerNorm(backend, config.Hidden, affine: false));
        Attn = AddModule("attn", new MultiHeadSelfAttention(backend, config.Hidden, config.Heads, config.RopeTheta));
        Norm2 = AddModule("norm2", new LayerNorm(backend, config.Hidden, affine: false));
        Mlp = AddModule("mlp", new Mlp(backend, config.Hidden, config.MlpRatio));
        // adaLN-zero: the block starts as the identity.
        Modulation = AddModule("modulation",
            new Linear(backend, config.CondDim, 6 * config.Hidden, weightInit: Init.Zeros, biasInit: Init.Zeros));
    }

    public DiTBlockConfig Config { get; }

    public LayerNorm Norm1 { get; }

    public MultiHeadSelfAttention Attn { get; }

    public LayerNorm Norm2 { get; }

    public Mlp Mlp { get; }

    /// <summary>cond → 6h: [shiftₐ | scaleₐ | gateₐ | shiftₘ | scaleₘ | gateₘ].</summary>
    public Linear Modulation { get; }

    /// <summary>
    /// x (B, T, h), c (B, cond) → (B, T, h). <paramref name="dropout"/> supplies the masks' randomness; it is required
    /// in training mode when the dropout probability is non-zero.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor c, DropoutRng? dropout = null)
    {
        if (c.Shape.Rank != 2 || c.Shape[1] != Config.CondDim || x.Shape.Rank != 3 || c.Shape[0] != x.Shape[0])
        {
            throw new ArgumentException(
                $"{nameof(DiTBlock)}: x must be (B, T, {Config.Hidden}) and c (B, {Config.CondDim}) but x is {x.Shape} and c is {c.Shape}.");
        }
        var m = Modulate(c);
        var o = Attn.Attend(ModulateOp.Apply(Norm1.Forward(x), m[0], m[1]));
        x = GatedLinear(x, m[2], Attn.Proj, o, dropout);
        var f = Mlp.Hidden(ModulateOp.Apply(Norm2.Forward(x), m[3], m[4]));
        return GatedLinear(x, m[5], Mlp.Fc2, f, dropout);
    }

    /// <summary>
    /// residual + gate·drop(linear(h)): one op with the gated residual in the GEMM's epilogue when no dropout runs
    /// (the same values as the composition), the composition when it does.
    /// </summary>
    private Tensor GatedLinear(Tensor residual, Tensor gate, Linear linear, Tensor h, DropoutRng? dropout) =>
        !Training || Config.Dropout == 0f
            ? linear.ForwardGated(residual, gate, h)
            : GatedResidualOp.Apply(residual, gate, Drop(linear.Forward(h), dropout));

    /// <summary>The six (B, h) modulation chunks from c.</summary>
    private Tensor[] Modulate(Tensor c)
    {
        var mod = Modulation.Forward(BiasActivationOp.Apply(c, null, Activation.Silu)); // (B, 6h)
        int h = Config.Hidden;
        return [.. Enumerable.Range(0, 6).Select(i => SliceOp.Apply(mod, 1, i * h, h))];
    }

    private Tensor Drop(Tensor x, DropoutRng? rng)
    {
        if (!Training || Config.Dropout == 0f)
        {
            return x;
        }
        if (rng is null)
        {
            throw new InvalidOperationException(
                $"{nameof(DiTBlock)}: dropout is {Config.Dropout} in training mode but no {nameof(DropoutRng)} was given to Forward.");
        }
        return rng.Apply(x, Config.Dropout);
    }
}
