namespace Lddm.Models;

/// <summary>
/// The learned latent encoder (§1.5 item 1): a bidirectional DiT over token embeddings with hidden size, blocks,
/// heads, conditioning size (its fixed time embedding at t = 0), vocabulary (K + 1), longest sequence L, patches P
/// (1 ≤ P ≤ MaxLength: the latent is read from the last P positions), patch dimension d, and whether each patch is
/// L2-normalised. MLP ratio 4 and RoPE base 10⁴ as <see cref="DiTConfig"/>; validated on construction.
/// </summary>
public sealed record DiTEncoderConfig(int Hidden, int Layers, int Heads, int CondDim, int Vocab, int MaxLength, int Patches, int PatchDim, bool Normalize = false)
{
    private bool Validated { get; } = Check(Hidden, Layers, Heads, CondDim, Vocab, MaxLength, Patches, PatchDim);

    /// <summary>The sizes of a DiT preset (its dropout is not used: the encoder has none) with a P × d latent.</summary>
    public static DiTEncoderConfig From(DiTConfig preset, int patches, int patchDim, bool normalize)
    {
        ArgumentNullException.ThrowIfNull(preset);
        return new(preset.Hidden, preset.Layers, preset.Heads, preset.CondDim, preset.Vocab, preset.MaxLength, patches, patchDim, normalize);
    }

    public int MlpRatio => 4;

    public float RopeTheta => 10_000f;

    /// <summary>The configuration of each block (no dropout).</summary>
    public DiTBlockConfig Block => new(Hidden, Heads, CondDim, 0f, MlpRatio, RopeTheta);

    /// <summary>Throws if any value is out of range.</summary>
    public void Validate() => Check(Hidden, Layers, Heads, CondDim, Vocab, MaxLength, Patches, PatchDim);

    private static bool Check(int hidden, int layers, int heads, int condDim, int vocab, int maxLength, int patches, int patchDim)
    {
        const string owner = nameof(DiTEncoderConfig);
        ConfigCheck.Heads(hidden, heads, owner);
        ConfigCheck.Positive(layers, owner, nameof(Layers));
        ConfigCheck.Positive(condDim, owner, nameof(CondDim));
        ConfigCheck.Positive(vocab, owner, nameof(Vocab));
        ConfigCheck.Positive(maxLength, owner, nameof(MaxLength));
        ConfigCheck.Patches(patches, maxLength, owner);
        ConfigCheck.Positive(patchDim, owner, nameof(PatchDim));
        return true;
    }
}
