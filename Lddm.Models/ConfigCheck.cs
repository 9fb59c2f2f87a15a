using System.Globalization;

namespace Lddm.Models;

/// <summary>Validation helpers for config records and module constructors: errors name the value and the range.</summary>
internal static class ConfigCheck
{
    public static int Positive(int value, string owner, string name) =>
        value > 0 ? value : throw new ArgumentOutOfRangeException(name, value, $"{owner}: '{name}' must be > 0 but was {value}.");

    /// <summary>A dropout probability: finite and in [0, 1).</summary>
    public static float Probability(float value, string owner, string name) =>
        float.IsFinite(value) && value is >= 0f and < 1f
            ? value
            : throw new ArgumentOutOfRangeException(name, value,
                $"{owner}: '{name}' must be in [0, 1) but was {value.ToString(CultureInfo.InvariantCulture)}.");

    public static float Above(float value, float bound, string owner, string name) =>
        float.IsFinite(value) && value > bound
            ? value
            : throw new ArgumentOutOfRangeException(name, value,
                $"{owner}: '{name}' must be finite and > {bound.ToString(CultureInfo.InvariantCulture)} but was {value.ToString(CultureInfo.InvariantCulture)}.");

    /// <summary>hidden = heads · headDim with an even headDim (RoPE rotates pairs).</summary>
    public static void Heads(int hidden, int heads, string owner)
    {
        Positive(hidden, owner, "hidden");
        Positive(heads, owner, nameof(heads));
        if (hidden % heads != 0)
        {
            throw new ArgumentException($"{owner}: 'hidden' ({hidden}) must be divisible by 'heads' ({heads}).", nameof(heads));
        }
        if (hidden / heads % 2 != 0)
        {
            throw new ArgumentException(
                $"{owner}: the head dimension hidden/heads = {hidden}/{heads} = {hidden / heads} must be even (RoPE rotates pairs).", nameof(heads));
        }
    }

    /// <summary>Latent patches P: at least one and no more than the token positions (the encoder reads the last P).</summary>
    public static int Patches(int patches, int maxLength, string owner)
    {
        Positive(patches, owner, "Patches");
        return patches <= maxLength
            ? patches
            : throw new ArgumentOutOfRangeException("Patches", patches,
                $"{owner}: 'Patches' ({patches}) must be ≤ 'MaxLength' ({maxLength}).");
    }
}
