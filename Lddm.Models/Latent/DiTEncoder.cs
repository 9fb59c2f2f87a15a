using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// The learned latent encoder (§1.5 item 1): tokens (B, L) → Embedding → bidirectional <see cref="DiTBlock"/>s
/// (RoPE, adaLN from the constant embedding TimeEmb(0): the encoder has no time input) → the last P positions →
/// <see cref="FinalLayer"/> to d → (B, P, d), each patch optionally L2-normalised. The final projection is
/// Xavier-initialised, not zero: a zero latent carries nothing and cannot be normalised.
/// </summary>
public sealed class DiTEncoder : Module
{
    private readonly DiTBlock[] _blocks;

    public DiTEncoder(Backend backend, DiTEncoderConfig config)
        : base(backend)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Embed = AddModule("embed", new Embedding(backend, config.Vocab, config.Hidden));
        Time = AddModule("time", new TimestepEmbedding(backend, config.CondDim));
        var blocks = AddModule("blocks", new ModuleList(backend));
        _blocks = [.. Enumerable.Range(0, config.Layers).Select(_ => blocks.Add(new DiTBlock(backend, config.Block)))];
        Final = AddModule("final", new FinalLayer(backend, config.Hidden, config.CondDim, config.PatchDim,
            projectionInit: Init.XavierUniform(config.Hidden, config.PatchDim)));
    }

    public DiTEncoderConfig Config { get; }

    public Embedding Embed { get; }

    /// <summary>Evaluated at t = 0 only: the blocks' conditioning is a learned constant.</summary>
    public TimestepEmbedding Time { get; }

    public IReadOnlyList<DiTBlock> Blocks => _blocks;

    public FinalLayer Final { get; }

    /// <summary>
    /// tokens (B, L) with ids &lt; Vocab and P ≤ L ≤ MaxLength → latent (B, P, d). <paramref name="keep"/> (B, L) scales
    /// each input embedding (0 drops a token: the output no longer depends on it; 1 keeps it).
    /// </summary>
    public Tensor Forward(IntTensor tokens, Tensor? keep = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Shape.Rank != 2 || tokens.Shape[1] < Config.Patches || tokens.Shape[1] > Config.MaxLength)
        {
            throw new ArgumentException(
                $"{nameof(DiTEncoder)}: tokens must be (B, L) with {Config.Patches} ≤ L ≤ {Config.MaxLength} but have shape {tokens.Shape}.",
                nameof(tokens));
        }
        int b = tokens.Shape[0], l = tokens.Shape[1];
        if (keep is not null && (keep.Shape.Rank != 2 || keep.Shape[0] != b || keep.Shape[1] != l))
        {
            throw new ArgumentException($"{nameof(DiTEncoder)}: keep must be ({b}, {l}) like tokens but has shape {keep.Shape}.", nameof(keep));
        }
        var c = Time.Forward(new float[b]); // TimeEmb(0) for every sequence
        var x = Embed.Forward(tokens);      // (B, L, h)
        if (keep is not null)
        {
            x = RowScaleOp.Apply(x, keep);
        }
        foreach (var block in _blocks)
        {
            x = block.Forward(x, c);
        }
        var latent = Final.Forward(SliceOp.Apply(x, 1, l - Config.Patches, Config.Patches), c); // (B, P, d)
        return Config.Normalize ? L2NormalizeOp.Apply(latent) : latent;
    }
}
