using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// One stream's weights inside an <see cref="MmDiTBlock"/> (SD3's MM-DiT): LayerNorms without affine, the
/// adaLN-zero modulation Linear(SiLU(c)) → 6h (zero-initialised), the bias-free QKV (h → 3h, columns [q | k | v], each
/// [head 0 | head 1 | …]) and output (h → h) projections, and the tanh-GELU MLP. The attention itself is shared
/// with the other stream and lives in the block.
/// </summary>
public sealed class MmDiTStream : Module
{
    public MmDiTStream(Backend backend, DiTBlockConfig config)
        : base(backend)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Norm1 = AddModule("norm1", new LayerNorm(backend, config.Hidden, affine: false));
        Qkv = AddModule("qkv", new Linear(backend, config.Hidden, 3 * config.Hidden, bias: false));
        Out = AddModule("out", new Linear(backend, config.Hidden, config.Hidden, bias: false));
        Norm2 = AddModule("norm2", new LayerNorm(backend, config.Hidden, affine: false));
        Mlp = AddModule("mlp", new Mlp(backend, config.Hidden, config.MlpRatio));
        Modulation = AddModule("modulation",
            new Linear(backend, config.CondDim, 6 * config.Hidden, weightInit: Init.Zeros, biasInit: Init.Zeros));
    }

    public DiTBlockConfig Config { get; }

    public LayerNorm Norm1 { get; }

    public Linear Qkv { get; }

    public Linear Out { get; }

    public LayerNorm Norm2 { get; }

    public Mlp Mlp { get; }

    /// <summary>cond → 6h: [shiftₐ | scaleₐ | gateₐ | shiftₘ | scaleₘ | gateₘ].</summary>
    public Linear Modulation { get; }

    /// <summary>The six (B, h) modulation chunks from c (B, cond).</summary>
    internal Tensor[] Modulate(Tensor c)
    {
        var mod = Modulation.Forward(BiasActivationOp.Apply(c, null, Activation.Silu)); // (B, 6h)
        int h = Config.Hidden;
        return [.. Enumerable.Range(0, 6).Select(i => SliceOp.Apply(mod, 1, i * h, h))];
    }

    /// <summary>x (B, T, h) → its fused q, k, v projection (B, T, 3h): per token [q | k | v], each [head 0 | head 1 | …].</summary>
    internal Tensor QkvOf(Tensor x, Tensor shift, Tensor scale) =>
        Qkv.Forward(ModulateOp.Apply(Norm1.Forward(x), shift, scale));
}
