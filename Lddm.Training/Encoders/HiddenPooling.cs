using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Training.Encoders;

/// <summary>
/// How a frozen encoder turns a pretrained model's last hidden states (B, L, h) into P latent patches (config key
/// <c>encoder_pooling</c>), as in LADD's embedder: <c>chunk-mean</c> averages P contiguous equal chunks of L/P
/// positions; <c>per-token</c> keeps one latent per position (P = L, their "last layer"). Either way the first d of the
/// h dims are kept (truncation, as their embedder clips its hidden size to the latent width) and each patch is
/// L2-normalised.
/// </summary>
public static class HiddenPooling
{
    public const string ChunkMean = "chunk-mean";
    public const string PerToken = "per-token";

    /// <summary>
    /// The checks every frozen hidden-state encoder makes of its settings: 1 ≤ P ≤ the model's maximum length,
    /// 1 ≤ d ≤ its hidden size h, and a known pooling; each error names <paramref name="owner"/> and the model
    /// (<paramref name="modelName"/>).
    /// </summary>
    public static void CheckSettings(string owner, string modelName, int maxLength, int hidden, int patches, int patchDim, string pooling)
    {
        if (patches < 1 || patches > maxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(patches), patches,
                $"{owner}: patches P must be in [1, {maxLength}] (the model's maximum length) but was {patches}.");
        }
        if (patchDim < 1 || patchDim > hidden)
        {
            throw new ArgumentOutOfRangeException(nameof(patchDim), patchDim,
                $"{owner}: patch dimension d must be in [1, {hidden}] (the {modelName}'s hidden size h) but was {patchDim}.");
        }
        if (pooling is not (ChunkMean or PerToken))
        {
            throw new ArgumentException($"{owner}: unknown pooling '{pooling}' (expected {ChunkMean} or {PerToken}).", nameof(pooling));
        }
    }

    /// <summary>hidden (B, L, h) → (B, P, d), unit-norm patches; <paramref name="owner"/> names the encoder in errors.</summary>
    public static Tensor Pool(Tensor hidden, int patches, int patchDim, string pooling, string owner)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        int b = hidden.Shape[0], l = hidden.Shape[1], h = hidden.Shape[2];
        if (patchDim > h)
        {
            throw new ArgumentOutOfRangeException(nameof(patchDim), patchDim, $"{owner}: patch dimension d = {patchDim} exceeds the hidden size h = {h}.");
        }
        Tensor pooled;
        switch (pooling)
        {
            case PerToken:
                if (l != patches)
                {
                    throw new ArgumentException(
                        $"{owner}: encoder_pooling = per-token gives one latent per position, so the sequence length L = {l} must equal the patch count P = {patches} (set latent_patches = length).",
                        nameof(hidden));
                }
                pooled = hidden;
                break;
            case ChunkMean:
                if (l % patches != 0)
                {
                    throw new ArgumentException(
                        $"{owner}: the sequence length L = {l} must be a multiple of the patch count P = {patches} (contiguous equal chunks).", nameof(hidden));
                }
                int chunk = l / patches;
                var grouped = TransposeOp.Apply(ReshapeOp.Apply(hidden, b, patches, chunk, h), 2, 3);     // (B, P, h, c)
                var average = Tensor.FromArray(hidden.Backend, Enumerable.Repeat(1f / chunk, chunk).ToArray(), chunk, 1);
                pooled = ReshapeOp.Apply(MatmulOp.Apply(grouped, average), b, patches, h);               // (B, P, h)
                break;
            default:
                throw new ArgumentException($"{owner}: unknown encoder_pooling '{pooling}' (expected {ChunkMean} or {PerToken}).", nameof(pooling));
        }
        var truncated = patchDim == h ? pooled : SliceOp.Apply(pooled, 2, 0, patchDim);                  // (B, P, d)
        return L2NormalizeOp.Apply(truncated);
    }
}
