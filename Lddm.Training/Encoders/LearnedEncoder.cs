using Lddm.Autograd;
using Lddm.Models;

namespace Lddm.Training.Encoders;

/// <summary>
/// The learned encoder E_φ (digest §1.5, family 1): a <see cref="DiTEncoder"/> trained with the model by the LDDM
/// losses. The module itself sits in the model's root network (under "encoder"); this wrapper is its
/// <see cref="ILatentEncoder"/> face.
/// </summary>
public sealed class LearnedEncoder(DiTEncoder network) : ILatentEncoder
{
    public DiTEncoder Network { get; } = network ?? throw new ArgumentNullException(nameof(network));

    public int Patches => Network.Config.Patches;

    public int PatchDim => Network.Config.PatchDim;

    public bool Trainable => true;

    public Tensor Encode(IntTensor x0, Tensor? keep = null) => Network.Forward(x0, keep);
}
