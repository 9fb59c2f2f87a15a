namespace Lddm.Models;

/// <summary>
/// The joint token + latent denoiser of FUJI (§2.2): hidden size, blocks, heads, conditioning size, vocabulary
/// (K + 1, MASK included), longest token sequence L, latent patches P (1 ≤ P ≤ MaxLength), patch dimension d, dropout.
/// MLP ratio 4 and RoPE base 10⁴ as <see cref="DiTConfig"/>; validated on construction, modules re-validate.
/// </summary>
public sealed record MmDiTConfig(int Hidden, int Layers, int Heads, int CondDim, int Vocab, int MaxLength, int Patches, int PatchDim, float Dropout = 0f)
{
    /// <summary>
    /// 0 (default): a Gaussian latent of P × d, projected in by an MLP and predicted as d values per patch (FUJI).
    /// C &gt; 0: a discrete latent of P codes in [0, C] (C real codes of a vector quantiser plus the latent chain's MASK = C),
    /// embedded by a table of C + 1 rows and predicted as C + 1 logits per patch (Di-LADD); PatchDim is then unused.
    /// </summary>
    public int LatentCodes { get => _latentCodes; init => _latentCodes = LatentCodesCheck(value); }

    private readonly int _latentCodes;

    private static int LatentCodesCheck(int codes) => codes >= 0 ? codes
        : throw new ArgumentOutOfRangeException(nameof(LatentCodes), codes, $"{nameof(MmDiTConfig)}: '{nameof(LatentCodes)}' must be ≥ 0 but was {codes}.");

    private bool Validated { get; } = Check(Hidden, Layers, Heads, CondDim, Vocab, MaxLength, Patches, PatchDim, Dropout);

    /// <summary>The sizes of a DiT preset with a latent channel of <paramref name="patches"/> × <paramref name="patchDim"/>.</summary>
    public static MmDiTConfig From(DiTConfig preset, int patches, int patchDim)
    {
        ArgumentNullException.ThrowIfNull(preset);
        return new(preset.Hidden, preset.Layers, preset.Heads, preset.CondDim, preset.Vocab, preset.MaxLength, patches, patchDim, preset.Dropout);
    }

    public int MlpRatio => 4;

    public float RopeTheta => 10_000f;

    /// <summary>The per-block sizes (each stream of an <see cref="MmDiTBlock"/> has these).</summary>
    public DiTBlockConfig Block => new(Hidden, Heads, CondDim, Dropout, MlpRatio, RopeTheta);

    /// <summary>Throws if any value is out of range.</summary>
    public void Validate()
    {
        Check(Hidden, Layers, Heads, CondDim, Vocab, MaxLength, Patches, PatchDim, Dropout);
        LatentCodesCheck(LatentCodes);
    }

    private static bool Check(int hidden, int layers, int heads, int condDim, int vocab, int maxLength, int patches, int patchDim, float dropout)
    {
        const string owner = nameof(MmDiTConfig);
        ConfigCheck.Heads(hidden, heads, owner);
        ConfigCheck.Positive(layers, owner, nameof(Layers));
        ConfigCheck.Positive(condDim, owner, nameof(CondDim));
        ConfigCheck.Positive(vocab, owner, nameof(Vocab));
        ConfigCheck.Positive(maxLength, owner, nameof(MaxLength));
        ConfigCheck.Patches(patches, maxLength, owner);
        ConfigCheck.Positive(patchDim, owner, nameof(PatchDim));
        ConfigCheck.Probability(dropout, owner, nameof(Dropout));
        return true;
    }
}
