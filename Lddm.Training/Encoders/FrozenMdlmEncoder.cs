using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Checkpoints;
using Lddm.Training.Engine;

namespace Lddm.Training.Encoders;

/// <summary>
/// A frozen latent encoder from a trained MDLM (<c>encoder = frozen-mdlm</c>): the bidirectional DiT read as a
/// masked-LM encoder (BERT-like) at t = 0 on the clean x₀; y₀ = its last hidden states (the input of the output
/// projection, <see cref="DiT.Hidden"/>) pooled by <see cref="HiddenPooling"/>, truncated to the first d of h dims and
/// L2-normalised per patch. Encoder corruption (keep = 0 at a position) feeds MASK there — the token the model was
/// trained to read in place of a hidden one. No gradient reaches it; it is not trained, averaged or checkpointed with
/// the LDDM model.
/// </summary>
public sealed class FrozenMdlmEncoder : ILatentEncoder, IDisposable
{
    public FrozenMdlmEncoder(DiT model, int patches, int patchDim, string pooling = HiddenPooling.ChunkMean)
    {
        ArgumentNullException.ThrowIfNull(model);
        HiddenPooling.CheckSettings("FrozenMdlmEncoder", "MDLM", model.Config.MaxLength, model.Config.Hidden, patches, patchDim, pooling);
        Model = model;
        Patches = patches;
        PatchDim = patchDim;
        Pooling = pooling;
        model.Eval();
    }

    public DiT Model { get; }

    public int Patches { get; }

    public int PatchDim { get; }

    /// <summary>chunk-mean or per-token (<see cref="HiddenPooling"/>).</summary>
    public string Pooling { get; }

    public bool Trainable => false;

    /// <summary>K, the real tokens the MDLM reads (MASK = K).</summary>
    public int Vocabulary => Model.Config.Vocab - 1;

    /// <summary>
    /// Builds a DiT of <paramref name="network"/>'s size and loads the EMA weights (live weights without EMA) of the MDLM
    /// checkpoint in <paramref name="checkpointDir"/>; every parameter must be there.
    /// </summary>
    public static FrozenMdlmEncoder Load(Backend backend, string checkpointDir, DiTConfig network, int patches, int patchDim, string pooling = HiddenPooling.ChunkMean)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentException.ThrowIfNullOrEmpty(checkpointDir);
        var store = new CheckpointStore(checkpointDir);
        var model = new DiT(backend, network);
        try
        {
            var loaded = store.LoadInitialWeights(model);
            if (loaded.Kept.Count > 0)
            {
                throw new InvalidDataException($"Checkpoint {loaded.Source} lacks parameters of the MDLM network: {string.Join(", ", loaded.Kept)}.");
            }
            return new FrozenMdlmEncoder(model, patches, patchDim, pooling);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>x₀ (B, L) ids in [0, K) → y₀ (B, P, d) without gradient; keep (B, L) of 0/1 puts MASK where it is 0.</summary>
    public Tensor Encode(IntTensor x0, Tensor? keep = null)
    {
        ArgumentNullException.ThrowIfNull(x0);
        if (x0.Shape.Rank != 2)
        {
            throw new ArgumentException($"FrozenMdlmEncoder: x0 must be (B, L) but has shape {x0.Shape}.", nameof(x0));
        }
        int b = x0.Shape[0];
        using var off = Grad.Off();
        var ids = x0;
        if (keep is not null)
        {
            if (keep.Shape != x0.Shape)
            {
                throw new ArgumentException($"FrozenMdlmEncoder: keep must have x0's shape {x0.Shape} but has shape {keep.Shape}.", nameof(keep));
            }
            var tokens = x0.ToArray();
            var k = keep.ToArray();
            for (int i = 0; i < tokens.Length; i++)
            {
                if (k[i] is not (0f or 1f))
                {
                    throw new ArgumentException($"FrozenMdlmEncoder: keep must be 0 or 1 but is {k[i]} at {i}.", nameof(keep));
                }
                if (k[i] == 0f)
                {
                    tokens[i] = Vocabulary; // MASK
                }
            }
            ids = IntTensor.FromArray(Model.Backend, tokens, x0.Shape[0], x0.Shape[1]);
        }
        var hidden = Model.Hidden(ids, new float[b]); // (B, L, h) at t = 0
        return HiddenPooling.Pool(hidden, Patches, PatchDim, Pooling, "FrozenMdlmEncoder");
    }

    public void Dispose() => Model.Dispose();
}
