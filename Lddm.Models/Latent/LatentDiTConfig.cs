namespace Lddm.Models;

/// <summary>
/// SEQ's latent prior (§3.1): a DiT over P latent patches of dimension d with hidden size, blocks, heads,
/// conditioning size and dropout. MLP ratio 4 and RoPE base 10⁴ as <see cref="DiTConfig"/>; validated on construction.
/// </summary>
public sealed record LatentDiTConfig(int Hidden, int Layers, int Heads, int CondDim, int Patches, int PatchDim, float Dropout = 0f)
{
    private bool Validated { get; } = Check(Hidden, Layers, Heads, CondDim, Patches, PatchDim, Dropout);

    /// <summary>The sizes of a DiT preset (its vocabulary and length unused) over a P × d latent.</summary>
    public static LatentDiTConfig From(DiTConfig preset, int patches, int patchDim)
    {
        ArgumentNullException.ThrowIfNull(preset);
        return new(preset.Hidden, preset.Layers, preset.Heads, preset.CondDim, patches, patchDim, preset.Dropout);
    }

    public int MlpRatio => 4;

    public float RopeTheta => 10_000f;

    /// <summary>The configuration of each block.</summary>
    public DiTBlockConfig Block => new(Hidden, Heads, CondDim, Dropout, MlpRatio, RopeTheta);

    /// <summary>Throws if any value is out of range.</summary>
    public void Validate() => Check(Hidden, Layers, Heads, CondDim, Patches, PatchDim, Dropout);

    private static bool Check(int hidden, int layers, int heads, int condDim, int patches, int patchDim, float dropout)
    {
        const string owner = nameof(LatentDiTConfig);
        ConfigCheck.Heads(hidden, heads, owner);
        ConfigCheck.Positive(layers, owner, nameof(Layers));
        ConfigCheck.Positive(condDim, owner, nameof(CondDim));
        ConfigCheck.Positive(patches, owner, nameof(Patches));
        ConfigCheck.Positive(patchDim, owner, nameof(PatchDim));
        ConfigCheck.Probability(dropout, owner, nameof(Dropout));
        return true;
    }
}
