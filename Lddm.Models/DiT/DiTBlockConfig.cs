namespace Lddm.Models;

/// <summary>
/// One DiT block: hidden size h, attention heads (h divisible by heads, even head dimension), conditioning size,
/// dropout probability in [0, 1), MLP ratio and RoPE base. Validated on construction; modules re-validate
/// (a <c>with</c> expression skips the constructor).
/// </summary>
public sealed record DiTBlockConfig(int Hidden, int Heads, int CondDim, float Dropout = 0f, int MlpRatio = 4, float RopeTheta = 10_000f)
{
    private bool Validated { get; } = Check(Hidden, Heads, CondDim, Dropout, MlpRatio, RopeTheta);

    /// <summary>Throws if any value is out of range (see the record's summary).</summary>
    public void Validate() => Check(Hidden, Heads, CondDim, Dropout, MlpRatio, RopeTheta);

    private static bool Check(int hidden, int heads, int condDim, float dropout, int mlpRatio, float ropeTheta)
    {
        const string owner = nameof(DiTBlockConfig);
        ConfigCheck.Heads(hidden, heads, owner);
        ConfigCheck.Positive(condDim, owner, nameof(CondDim));
        ConfigCheck.Probability(dropout, owner, nameof(Dropout));
        ConfigCheck.Positive(mlpRatio, owner, nameof(MlpRatio));
        ConfigCheck.Above(ropeTheta, 1f, owner, nameof(RopeTheta));
        return true;
    }
}
