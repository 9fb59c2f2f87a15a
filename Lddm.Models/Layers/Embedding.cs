using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// A lookup table (vocab, dim): ids (…) → rows (…, dim). Init as MDLM's EmbeddingLayer
/// (kaiming_uniform with a = √5 on a (vocab, dim) tensor: U(±1/√dim)).
/// </summary>
public sealed class Embedding : Module
{
    public Embedding(Backend backend, int vocab, int dim, Init? init = null)
        : base(backend)
    {
        Vocab = ConfigCheck.Positive(vocab, nameof(Embedding), nameof(vocab));
        Dim = ConfigCheck.Positive(dim, nameof(Embedding), nameof(dim));
        Table = AddParameter("weight", init ?? Init.Uniform(1f / MathF.Sqrt(dim)), vocab, dim);
    }

    public int Vocab { get; }

    public int Dim { get; }

    /// <summary>(vocab, dim).</summary>
    public Parameter Table { get; }

    public Tensor Forward(IntTensor ids) => EmbeddingOp.Apply(ids, Table);
}
