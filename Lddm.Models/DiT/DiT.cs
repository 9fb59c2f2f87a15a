using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// The bidirectional DiT denoiser of MDLM (§8.4) and of the token stream (§2.2):
/// tokens (B, T) → embedding → blocks (RoPE attention, adaLN-zero from the time embedding) → final layer → logits
/// (B, T, Vocab). Time t (B) enters through <see cref="TimestepEmbedding"/>; MDLM without time conditioning feeds t = 0.
/// </summary>
public sealed class DiT : Module
{
    private readonly DiTBlock[] _blocks;

    public DiT(Backend backend, DiTConfig config)
        : base(backend)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Embed = AddModule("embed", new Embedding(backend, config.Vocab, config.Hidden));
        Time = AddModule("time", new TimestepEmbedding(backend, config.CondDim));
        var blocks = AddModule("blocks", new ModuleList(backend));
        _blocks = [.. Enumerable.Range(0, config.Layers).Select(_ => blocks.Add(new DiTBlock(backend, config.Block)))];
        Final = AddModule("final", new FinalLayer(backend, config.Hidden, config.CondDim, config.Vocab));
    }

    public DiTConfig Config { get; }

    public Embedding Embed { get; }

    public TimestepEmbedding Time { get; }

    public IReadOnlyList<DiTBlock> Blocks => _blocks;

    public FinalLayer Final { get; }

    /// <summary>tokens (B, T) with ids &lt; Vocab, t (B) → logits (B, T, Vocab).</summary>
    public Tensor Forward(IntTensor tokens, ReadOnlySpan<float> t, DropoutRng? dropout = null) =>
        Final.Proj.Forward(Hidden(tokens, t, dropout));

    /// <summary>
    /// tokens (B, T), t (B) → the last hidden states (B, T, h) as the output projection reads them: the final layer's
    /// LayerNorm and adaLN modulation applied to the last block's output (a frozen MDLM encoder reads these at t = 0).
    /// </summary>
    public Tensor Hidden(IntTensor tokens, ReadOnlySpan<float> t, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Shape.Rank != 2 || tokens.Shape[0] != t.Length || tokens.Shape[1] > Config.MaxLength)
        {
            throw new ArgumentException(
                $"{nameof(DiT)}: tokens must be (B, T) with B = {t.Length} times and T ≤ {Config.MaxLength} but have shape {tokens.Shape}.",
                nameof(tokens));
        }
        var c = Time.Forward(t); // (B, cond)
        var x = Embed.Forward(tokens); // (B, T, h)
        foreach (var block in _blocks)
        {
            x = block.Forward(x, c, dropout);
        }
        return Final.Features(x, c);
    }
}
