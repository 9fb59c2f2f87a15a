using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// The autoregressive text model used as the AR baseline, the judge of generative perplexity and the source of
/// frozen latents: tokens (B, T) → embedding → pre-LN causal blocks (<see cref="CausalBlock"/>) → final affine
/// LayerNorm → Linear → logits (B, T, Vocab). Position t sees tokens 0..t only, so its logits predict token t + 1.
/// The output projection starts at zero: a fresh model predicts the uniform distribution.
/// </summary>
public sealed class CausalTransformer : Module
{
    private readonly CausalBlock[] _blocks;

    public CausalTransformer(Backend backend, CausalConfig config)
        : base(backend)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Embed = AddModule("embed", new Embedding(backend, config.Vocab, config.Hidden));
        var blocks = AddModule("blocks", new ModuleList(backend));
        _blocks = [.. Enumerable.Range(0, config.Layers).Select(_ =>
            blocks.Add(new CausalBlock(backend, config.Hidden, config.Heads, config.MlpRatio, config.RopeTheta, config.Dropout)))];
        Norm = AddModule("norm", new LayerNorm(backend, config.Hidden));
        Head = AddModule("head", new Linear(backend, config.Hidden, config.Vocab, weightInit: Init.Zeros));
    }

    public CausalConfig Config { get; }

    public Embedding Embed { get; }

    public IReadOnlyList<CausalBlock> Blocks => _blocks;

    public LayerNorm Norm { get; }

    public Linear Head { get; }

    /// <summary>tokens (B, T) with ids &lt; Vocab and T ≤ MaxLength → logits (B, T, Vocab).</summary>
    public Tensor Forward(IntTensor tokens, DropoutRng? dropout = null) => Head.Forward(Hidden(tokens, null, dropout));

    /// <summary>
    /// tokens (B, T) → the final normalised hidden states (B, T, h) (the input of the output projection).
    /// <paramref name="keep"/> (B, T) of 0/1, when given, scales each position's input embedding (0 zeroes it: the
    /// encoder corruption of §2.4).
    /// </summary>
    public Tensor Hidden(IntTensor tokens, Tensor? keep = null, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Shape.Rank != 2 || tokens.Shape[1] > Config.MaxLength)
        {
            throw new ArgumentException(
                $"{nameof(CausalTransformer)}: tokens must be (B, T) with T ≤ {Config.MaxLength} but have shape {tokens.Shape}.",
                nameof(tokens));
        }
        var x = Embed.Forward(tokens); // (B, T, h)
        if (keep is not null)
        {
            if (keep.Shape != tokens.Shape)
            {
                throw new ArgumentException(
                    $"{nameof(CausalTransformer)}: keep must have the tokens' shape {tokens.Shape} but has shape {keep.Shape}.", nameof(keep));
            }
            x = RowScaleOp.Apply(x, keep);
        }
        foreach (var block in _blocks)
        {
            x = block.Forward(x, dropout);
        }
        return Norm.Forward(x);
    }
}
