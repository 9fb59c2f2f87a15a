using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// A joint-attention block (§2.2, SD3's MM-DiT): the token stream x (B, L, h) and the latent stream y (B, P, h) keep
/// separate weights (<see cref="MmDiTStream"/>: norms, adaLN-zero modulation, QKV/output projections, MLP) but attend
/// as ONE sequence of L + P positions. Per stream s with chunks from Linear_s(SiLU(c)):
///   (q, k, v)_s = QKV_s(modulate(LN(s), shiftₐ, scaleₐ)); q, k, v = concat_seq(x-part, y-part);
///   RoPE over the joint sequence (latents at positions L … L+P−1); o = softmax(q·kᵀ/√D)·v;
///   s ← s + gateₐ · Out_s(o_s);  s ← s + gateₘ · MLP_s(modulate(LN(s), shiftₘ, scaleₘ)).
/// Both modulations are zero-initialised, so a fresh block is the identity on both streams.
/// </summary>
public sealed class MmDiTBlock : Module
{
    public MmDiTBlock(Backend backend, DiTBlockConfig config)
        : base(backend)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Tokens = AddModule("tokens", new MmDiTStream(backend, config));
        Latent = AddModule("latent", new MmDiTStream(backend, config));
    }

    public DiTBlockConfig Config { get; }

    /// <summary>The token stream's weights.</summary>
    public MmDiTStream Tokens { get; }

    /// <summary>The latent stream's weights.</summary>
    public MmDiTStream Latent { get; }

    /// <summary>
    /// x (B, L, h), y (B, P, h), c (B, cond) → updated (x, y). <paramref name="dropout"/> is required in training mode
    /// when the dropout probability is non-zero.
    /// </summary>
    public (Tensor Tokens, Tensor Latent) Forward(Tensor x, Tensor y, Tensor c, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(c);
        int h = Config.Hidden;
        if (x.Shape.Rank != 3 || x.Shape[2] != h || y.Shape.Rank != 3 || y.Shape[2] != h || y.Shape[0] != x.Shape[0]
            || c.Shape.Rank != 2 || c.Shape[1] != Config.CondDim || c.Shape[0] != x.Shape[0])
        {
            throw new ArgumentException(
                $"{nameof(MmDiTBlock)}: x must be (B, L, {h}), y (B, P, {h}) and c (B, {Config.CondDim}) but x is {x.Shape}, y is {y.Shape} and c is {c.Shape}.");
        }
        int b = x.Shape[0], l = x.Shape[1], p = y.Shape[1], heads = Config.Heads;
        var mx = Tokens.Modulate(c);
        var my = Latent.Modulate(c);

        // One attention over the joint sequence [tokens | latents].
        // The heads are read in place from the joint QKV (B, L+P, 3, heads, D), RoPE inside the attention.
        var joint = ConcatOp.Apply([Tokens.QkvOf(x, mx[0], mx[1]), Latent.QkvOf(y, my[0], my[1])], 1); // (B, L+P, 3h)
        var o = QkvAttentionOp.Apply(joint, heads, Config.RopeTheta); // (B, L+P, h)
        x = GatedLinear(x, mx[2], Tokens.Out, SliceOp.Apply(o, 1, 0, l), dropout);
        y = GatedLinear(y, my[2], Latent.Out, SliceOp.Apply(o, 1, l, p), dropout);
        x = GatedLinear(x, mx[5], Tokens.Mlp.Fc2, Tokens.Mlp.Hidden(ModulateOp.Apply(Tokens.Norm2.Forward(x), mx[3], mx[4])), dropout);
        y = GatedLinear(y, my[5], Latent.Mlp.Fc2, Latent.Mlp.Hidden(ModulateOp.Apply(Latent.Norm2.Forward(y), my[3], my[4])), dropout);
        return (x, y);
    }

    /// <summary>
    /// residual + gate·drop(linear(h)): one op with the gated residual in the GEMM's epilogue when no dropout runs
    /// (the same values as the composition), the composition when it does.
    /// </summary>
    private Tensor GatedLinear(Tensor residual, Tensor gate, Linear linear, Tensor h, DropoutRng? dropout) =>
        !Training || Config.Dropout == 0f
            ? linear.ForwardGated(residual, gate, h)
            : GatedResidualOp.Apply(residual, gate, Drop(linear.Forward(h), dropout));

    private Tensor Drop(Tensor x, DropoutRng? rng)
    {
        if (!Training || Config.Dropout == 0f)
        {
            return x;
        }
        if (rng is null)
        {
            throw new InvalidOperationException(
                $"{nameof(MmDiTBlock)}: dropout is {Config.Dropout} in training mode but no {nameof(DropoutRng)} was given to Forward.");
        }
        return rng.Apply(x, Config.Dropout);
    }
}
