using Lddm.Autograd;

namespace Lddm.Models;

/// <summary>An <see cref="MmDiT"/> prediction: token logits (B, L, Vocab) and the latent head's output (B, P, d).</summary>
public sealed record MmDiTOutput(Tensor Logits, Tensor Latent);
