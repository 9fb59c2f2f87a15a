using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models.Tests.Support;

/// <summary>
/// The learning-sanity network: token embedding + learned absolute positions → DiT blocks (constant zero
/// conditioning, so adaLN learns per-block shift/scale/gate through its bias) → LayerNorm → zero-initialised Linear
/// to the vocabulary.
/// Absolute positions make the reverse task learnable in a few hundred steps (RoPE alone only gives relative ones).
/// </summary>
public sealed class SequenceModel : Module
{
    private readonly DiTBlock[] _blocks;
    private readonly int _cond;

    public SequenceModel(Backend backend, DiTConfig config)
        : base(backend)
    {
        _cond = config.CondDim;
        Embed = AddModule("embed", new Embedding(backend, config.Vocab, config.Hidden));
        Positions = AddParameter("positions", Init.Normal(0.02f), config.MaxLength, config.Hidden);
        var blocks = AddModule("blocks", new ModuleList(backend));
        _blocks = [.. Enumerable.Range(0, config.Layers).Select(_ => blocks.Add(new DiTBlock(backend, config.Block)))];
        Norm = AddModule("norm", new LayerNorm(backend, config.Hidden));
        // Zero-initialised like DiT's output layer: the first loss is exactly ln(Vocab).
        Head = AddModule("head", new Linear(backend, config.Hidden, config.Vocab, weightInit: Init.Zeros));
    }

    public Embedding Embed { get; }

    /// <summary>(T, h), added to every sequence.</summary>
    public Parameter Positions { get; }

    public LayerNorm Norm { get; }

    public Linear Head { get; }

    /// <summary>tokens (B, T) with T = MaxLength → logits (B, T, Vocab).</summary>
    public Tensor Forward(IntTensor tokens)
    {
        var x = AddOp.Apply(Embed.Forward(tokens), Positions);
        var c = Tensor.Zeros(Backend, new Shape(tokens.Shape[0], _cond));
        foreach (var block in _blocks)
        {
            x = block.Forward(x, c);
        }
        return Head.Forward(Norm.Forward(x));
    }
}
