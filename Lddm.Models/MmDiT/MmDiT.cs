using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// FUJI's joint denoiser (§2.2): tokens (B, L) → Embedding (Vocab = K + 1) → (B, L, h); latent (B, P, d) → per-patch
/// MLP Linear(d, 4h) → SiLU → Linear(4h, h) → (B, P, h); <see cref="MmDiTBlock"/>s with one joint attention over the
/// L + P positions; heads: a <see cref="FinalLayer"/> to Vocab logits on the token stream and one to d on the latent
/// stream (both zero-initialised: a fresh model predicts zero logits and a zero latent).
/// Conditioning c = TimeEmb_x(tX) + TimeEmb_y(tY); every modulation reads SiLU(c).
/// </summary>
public sealed class MmDiT : Module
{
    private readonly MmDiTBlock[] _blocks;

    public MmDiT(Backend backend, MmDiTConfig config)
        : base(backend)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int h = config.Hidden;
        Embed = AddModule("embed", new Embedding(backend, config.Vocab, h));
        if (config.LatentCodes > 0)
        {
            LatentEmbed = AddModule("latent_embed", new Embedding(backend, config.LatentCodes + 1, h));
        }
        else
        {
            LatentIn1 = AddModule("latent_in1", new Linear(backend, config.PatchDim, 4 * h));
            LatentIn2 = AddModule("latent_in2", new Linear(backend, 4 * h, h));
        }
        TimeX = AddModule("time_x", new TimestepEmbedding(backend, config.CondDim));
        TimeY = AddModule("time_y", new TimestepEmbedding(backend, config.CondDim));
        var blocks = AddModule("blocks", new ModuleList(backend));
        _blocks = [.. Enumerable.Range(0, config.Layers).Select(_ => blocks.Add(new MmDiTBlock(backend, config.Block)))];
        FinalTokens = AddModule("final_x", new FinalLayer(backend, h, config.CondDim, config.Vocab));
        FinalLatent = AddModule("final_y", new FinalLayer(backend, h, config.CondDim,
            config.LatentCodes > 0 ? config.LatentCodes + 1 : config.PatchDim));
    }

    public MmDiTConfig Config { get; }

    public Embedding Embed { get; }

    /// <summary>The latent input MLP's first layer, d → 4h (SiLU follows); null for a discrete latent.</summary>
    public Linear? LatentIn1 { get; }

    /// <summary>The latent input MLP's second layer, 4h → h; null for a discrete latent.</summary>
    public Linear? LatentIn2 { get; }

    /// <summary>The discrete latent's code table, (C + 1, h) (the latent chain's MASK last); null for a Gaussian latent.</summary>
    public Embedding? LatentEmbed { get; }

    /// <summary>The token time tX's embedding.</summary>
    public TimestepEmbedding TimeX { get; }

    /// <summary>The latent time tY's embedding.</summary>
    public TimestepEmbedding TimeY { get; }

    public IReadOnlyList<MmDiTBlock> Blocks => _blocks;

    /// <summary>Token-stream head → (B, L, Vocab) logits.</summary>
    public FinalLayer FinalTokens { get; }

    /// <summary>Latent-stream head → (B, P, d), or (B, P, C + 1) code logits for a discrete latent.</summary>
    public FinalLayer FinalLatent { get; }

    /// <summary>
    /// tokens (B, L) with ids &lt; Vocab and L ≤ MaxLength, latent (B, P, d), times tX and tY (B each) →
    /// logits (B, L, Vocab) and the latent prediction (B, P, d).
    /// </summary>
    public MmDiTOutput Forward(IntTensor tokens, Tensor latent, ReadOnlySpan<float> tX, ReadOnlySpan<float> tY, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(latent);
        int batch = tX.Length;
        if (LatentIn1 is null || LatentIn2 is null)
        {
            throw new InvalidOperationException($"{nameof(MmDiT)}: this network has a discrete latent of {Config.LatentCodes} codes: pass code ids, not vectors.");
        }
        if (latent.Shape.Rank != 3 || latent.Shape[0] != batch || latent.Shape[1] != Config.Patches || latent.Shape[2] != Config.PatchDim)
        {
            throw new ArgumentException(
                $"{nameof(MmDiT)}: latent must be ({batch}, {Config.Patches}, {Config.PatchDim}) but has shape {latent.Shape}.", nameof(latent));
        }
        return Joint(tokens, tX, tY, LatentIn2.Forward(LatentIn1.Forward(latent, Activation.Silu)), dropout); // (B, P, h)
    }

    /// <summary>
    /// The discrete-latent form (Di-LADD): tokens (B, L), codes (B, P) with ids in [0, C] (C = the latent chain's MASK),
    /// times tX and tY (B each) → token logits (B, L, Vocab) and code logits (B, P, C + 1).
    /// </summary>
    public MmDiTOutput Forward(IntTensor tokens, IntTensor codes, ReadOnlySpan<float> tX, ReadOnlySpan<float> tY, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(codes);
        if (LatentEmbed is null)
        {
            throw new InvalidOperationException($"{nameof(MmDiT)}: this network has a Gaussian latent: pass latent vectors, not code ids.");
        }
        int batch = tX.Length;
        if (codes.Shape.Rank != 2 || codes.Shape[0] != batch || codes.Shape[1] != Config.Patches)
        {
            throw new ArgumentException(
                $"{nameof(MmDiT)}: codes must be ({batch}, {Config.Patches}) but have shape {codes.Shape}.", nameof(codes));
        }
        return Joint(tokens, tX, tY, LatentEmbed.Forward(codes), dropout);
    }

    private MmDiTOutput Joint(IntTensor tokens, ReadOnlySpan<float> tX, ReadOnlySpan<float> tY, Tensor y, DropoutRng? dropout)
    {
        int batch = tX.Length;
        if (tokens.Shape.Rank != 2 || tokens.Shape[0] != batch || tokens.Shape[1] > Config.MaxLength)
        {
            throw new ArgumentException(
                $"{nameof(MmDiT)}: tokens must be (B, L) with B = {batch} times and L ≤ {Config.MaxLength} but have shape {tokens.Shape}.",
                nameof(tokens));
        }
        if (tY.Length != batch)
        {
            throw new ArgumentException($"{nameof(MmDiT)}: tY must hold B = {batch} times (as tX) but holds {tY.Length}.", nameof(tY));
        }
        var c = AddOp.Apply(TimeX.Forward(tX), TimeY.Forward(tY)); // (B, cond)
        var x = Embed.Forward(tokens);                              // (B, L, h)
        foreach (var block in _blocks)
        {
            (x, y) = block.Forward(x, y, c, dropout);
        }
        return new MmDiTOutput(FinalTokens.Forward(x, c), FinalLatent.Forward(y, c));
    }
}
