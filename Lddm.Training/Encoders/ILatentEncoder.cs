using Lddm.Autograd;

namespace Lddm.Training.Encoders;

/// <summary>
/// E_φ: clean tokens → the sequence's latent y₀ as P patches of d dims (digest §1.5). Either learned with the model
/// (a DiTEncoder, trained by the LDDM losses) or frozen (hidden states of a model Lddm trained earlier, pooled).
/// </summary>
public interface ILatentEncoder
{
    /// <summary>P, the number of latent patches.</summary>
    int Patches { get; }

    /// <summary>d, the dimension of each patch.</summary>
    int PatchDim { get; }

    /// <summary>False for a frozen encoder: no gradient reaches it and it is not in the optimizer, EMA or checkpoints.</summary>
    bool Trainable { get; }

    /// <summary>
    /// x₀ (B, L) ids in [0, K) → y₀ (B, P, d). <paramref name="keep"/> (B, L) of 1/0, when given, zeroes the encoder's
    /// input embedding where it is 0 (encoder corruption p_r, §2.4).
    /// </summary>
    Tensor Encode(IntTensor x0, Tensor? keep = null);
}
