using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Ar;
using Lddm.Training.Checkpoints;
using Lddm.Training.Engine;

namespace Lddm.Training.Encoders;

/// <summary>
/// A frozen latent encoder from a trained AR model (<c>encoder = frozen-ar</c>): y₀ = the final normalised hidden
/// states of x₀, pooled by <see cref="HiddenPooling"/> (mean over P contiguous equal chunks, or one latent per position),
/// truncated to the first d of h dims and L2-normalised per patch. No gradient reaches it; it is not trained, averaged
/// or checkpointed with the LDDM model. Position i reads [BOS, x₀ … x_{i−1}] (the layout the AR model was trained on),
/// so its hidden state summarises the prefix before x_i.
/// </summary>
public sealed class FrozenHiddenEncoder : ILatentEncoder, IDisposable
{
    public FrozenHiddenEncoder(CausalTransformer model, int patches, int patchDim, string pooling = HiddenPooling.ChunkMean)
    {
        ArgumentNullException.ThrowIfNull(model);
        HiddenPooling.CheckSettings("FrozenHiddenEncoder", "AR model", model.Config.MaxLength, model.Config.Hidden, patches, patchDim, pooling);
        Model = model;
        Patches = patches;
        PatchDim = patchDim;
        Pooling = pooling;
        model.Eval();
    }

    public CausalTransformer Model { get; }

    public int Patches { get; }

    public int PatchDim { get; }

    /// <summary>chunk-mean or per-token (<see cref="HiddenPooling"/>).</summary>
    public string Pooling { get; }

    public bool Trainable => false;

    /// <summary>K, the real tokens the AR model reads (BOS = K).</summary>
    public int Vocabulary => Model.Config.Vocab - 1;

    /// <summary>
    /// The causal transformer of <paramref name="network"/>'s size with the weights of the AR checkpoint in
    /// <paramref name="checkpointDir"/> (EMA weights when the snapshot has them, else the live ones), in eval mode.
    /// </summary>
    public static CausalTransformer LoadNetwork(Backend backend, string checkpointDir, CausalConfig network)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentException.ThrowIfNullOrEmpty(checkpointDir);
        var store = new CheckpointStore(checkpointDir);
        var model = new CausalTransformer(backend, network);
        try
        {
            // The EMA weights when the snapshot has them, else the live weights; every parameter must be there.
            var loaded = store.LoadInitialWeights(model);
            if (loaded.Kept.Count > 0)
            {
                throw new InvalidDataException(
                    $"Checkpoint {loaded.Source} lacks parameters of the AR network: {string.Join(", ", loaded.Kept)}.");
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.Eval();
        return model;
    }

    /// <summary>x₀ (B, L) → y₀ (B, P, d) without gradient; L must be a multiple of P (chunk-mean) or P (per-token).</summary>
    public Tensor Encode(IntTensor x0, Tensor? keep = null)
    {
        ArgumentNullException.ThrowIfNull(x0);
        if (x0.Shape.Rank != 2)
        {
            throw new ArgumentException($"FrozenHiddenEncoder: x0 must be (B, L) but has shape {x0.Shape}.", nameof(x0));
        }
        int b = x0.Shape[0], l = x0.Shape[1];
        using var off = Grad.Off();
        // The AR model was trained on [BOS, x₀ … x_{L−2}] (ArModel.ShiftRight): feed it that layout, with keep shifted alongside.
        var shifted = IntTensor.FromArray(Model.Backend, ArModel.ShiftRight(x0.ToArray(), b, l, Model.Config.Vocab - 1), b, l);
        var shiftedKeep = keep is null ? null : Tensor.FromArray(Model.Backend, ShiftKeep(keep.ToArray(), b, l), b, l);
        var hidden = Model.Hidden(shifted, shiftedKeep);                                          // (B, L, h)
        return HiddenPooling.Pool(hidden, Patches, PatchDim, Pooling, "FrozenHiddenEncoder");
    }

    /// <summary>keep moves with the tokens; the BOS position is always kept.</summary>
    private static float[] ShiftKeep(float[] keep, int batch, int length)
    {
        var shifted = new float[keep.Length];
        for (int b = 0; b < batch; b++)
        {
            shifted[b * length] = 1f;
            Array.Copy(keep, b * length, shifted, b * length + 1, length - 1);
        }
        return shifted;
    }

    public void Dispose() => Model.Dispose();
}
