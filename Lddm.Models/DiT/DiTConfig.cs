namespace Lddm.Models;

/// <summary>
/// The DiT denoiser: hidden size, blocks, heads, conditioning size, vocabulary (every id the model reads and every
/// logit it writes, MASK included: K + 1), longest sequence, dropout. Presets follow the digest's small sizes (§6)
/// with the MLP ratio 4 and RoPE base 10⁴; vary them with <c>with</c> (modules re-validate).
/// </summary>
public sealed record DiTConfig(int Hidden, int Layers, int Heads, int CondDim, int Vocab, int MaxLength, float Dropout = 0f)
{
    private bool Validated { get; } = Check(Hidden, Layers, Heads, CondDim, Vocab, MaxLength, Dropout);

    /// <summary>h = 32, 4 blocks, 2 heads, cond 16 (the digest's XXS).</summary>
    public static DiTConfig Xxs(int vocab, int maxLength) => new(32, 4, 2, 16, vocab, maxLength);

    /// <summary>h = 64, 4 blocks, 4 heads, cond 32 (the digest's XS).</summary>
    public static DiTConfig Tiny(int vocab, int maxLength) => new(64, 4, 4, 32, vocab, maxLength);

    /// <summary>h = 128, 4 blocks, 4 heads, cond 64.</summary>
    public static DiTConfig Small(int vocab, int maxLength) => new(128, 4, 4, 64, vocab, maxLength);

    /// <summary>h = 256, 6 blocks, 4 heads, cond 128.</summary>
    public static DiTConfig Base(int vocab, int maxLength) => new(256, 6, 4, 128, vocab, maxLength);

    public int MlpRatio => 4;

    public float RopeTheta => 10_000f;

    /// <summary>The configuration of each block.</summary>
    public DiTBlockConfig Block => new(Hidden, Heads, CondDim, Dropout, MlpRatio, RopeTheta);

    /// <summary>Throws if any value is out of range.</summary>
    public void Validate() => Check(Hidden, Layers, Heads, CondDim, Vocab, MaxLength, Dropout);

    private static bool Check(int hidden, int layers, int heads, int condDim, int vocab, int maxLength, float dropout)
    {
        const string owner = nameof(DiTConfig);
        ConfigCheck.Heads(hidden, heads, owner);
        ConfigCheck.Positive(layers, owner, nameof(Layers));
        ConfigCheck.Positive(condDim, owner, nameof(CondDim));
        ConfigCheck.Positive(vocab, owner, nameof(Vocab));
        ConfigCheck.Positive(maxLength, owner, nameof(MaxLength));
        ConfigCheck.Probability(dropout, owner, nameof(Dropout));
        return true;
    }
}
