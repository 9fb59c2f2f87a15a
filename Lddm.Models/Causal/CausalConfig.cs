namespace Lddm.Models;

/// <summary>
/// The autoregressive judge (a GPT-style decoder): hidden size, blocks, heads, vocabulary (every id it reads and every
/// logit it writes: K real tokens plus BOS = K, so K + 1), longest sequence, dropout. Presets share the DiT presets'
/// sizes (<see cref="DiTConfig"/>) so an AR baseline and a diffusion model of the same preset are comparable;
/// MLP ratio 4 and RoPE base 10⁴.
/// </summary>
public sealed record CausalConfig(int Hidden, int Layers, int Heads, int Vocab, int MaxLength, float Dropout = 0f)
{
    private bool Validated { get; } = Check(Hidden, Layers, Heads, Vocab, MaxLength, Dropout);

    /// <summary>h = 64, 4 blocks, 4 heads (as <see cref="DiTConfig.Tiny"/>).</summary>
    public static CausalConfig Tiny(int vocab, int maxLength) => new(64, 4, 4, vocab, maxLength);

    /// <summary>h = 128, 4 blocks, 4 heads (as <see cref="DiTConfig.Small"/>).</summary>
    public static CausalConfig Small(int vocab, int maxLength) => new(128, 4, 4, vocab, maxLength);

    /// <summary>h = 256, 6 blocks, 4 heads (as <see cref="DiTConfig.Base"/>).</summary>
    public static CausalConfig Base(int vocab, int maxLength) => new(256, 6, 4, vocab, maxLength);

    public int MlpRatio => 4;

    public float RopeTheta => 10_000f;

    /// <summary>Throws if any value is out of range.</summary>
    public void Validate() => Check(Hidden, Layers, Heads, Vocab, MaxLength, Dropout);

    private static bool Check(int hidden, int layers, int heads, int vocab, int maxLength, float dropout)
    {
        const string owner = nameof(CausalConfig);
        ConfigCheck.Heads(hidden, heads, owner);
        ConfigCheck.Positive(layers, owner, nameof(Layers));
        if (vocab < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(Vocab), vocab,
                $"{owner}: 'Vocab' is K + 1 (K ≥ 1 real tokens plus BOS) and must be ≥ 2 but was {vocab}.");
        }
        ConfigCheck.Positive(maxLength, owner, nameof(MaxLength));
        ConfigCheck.Probability(dropout, owner, nameof(Dropout));
        return true;
    }
}
