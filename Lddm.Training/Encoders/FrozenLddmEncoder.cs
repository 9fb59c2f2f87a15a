using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Checkpoints;

namespace Lddm.Training.Encoders;

/// <summary>
/// The learned encoder of an earlier FUJI or SEQ run (typically SEQ stage 1, where the encoder is trained by the token
/// loss alone), frozen: the analogue of the frozen pretrained embedder of LADD's text runs (§1.5, §5 item 1), which
/// removes the pull of the latent loss on the encoder (towards small, predictable latents). Loaded from the
/// checkpoint's EMA weights (its <c>encoder.*</c> tensors); never trained, saved or EMA-tracked by the run using it.
/// </summary>
public sealed class FrozenLddmEncoder : ILatentEncoder, IDisposable
{
    private readonly Holder _holder;

    private FrozenLddmEncoder(Holder holder, string source)
    {
        _holder = holder;
        Source = source;
    }

    /// <summary>The checkpoint directory the weights came from.</summary>
    public string Source { get; }

    public DiTEncoder Network => _holder.Encoder;

    public int Patches => Network.Config.Patches;

    public int PatchDim => Network.Config.PatchDim;

    public bool Trainable => false;

    /// <summary>
    /// Builds a DiT encoder of <paramref name="encoder"/>'s size and loads the <c>encoder.*</c> weights (EMA when saved)
    /// of the FUJI/SEQ checkpoint in <paramref name="checkpointDir"/>.
    /// </summary>
    public static FrozenLddmEncoder Load(Backend backend, string checkpointDir, DiTEncoderConfig encoder)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var store = new CheckpointStore(checkpointDir);
        var holder = new Holder(backend, new DiTEncoder(backend, encoder));
        try
        {
            var loaded = store.LoadInitialWeights(holder, prefix: "encoder.");
            if (loaded.Kept.Count > 0)
            {
                throw new InvalidDataException(
                    $"Checkpoint '{checkpointDir}' lacks encoder tensors {string.Join(", ", loaded.Kept.Take(5))}{(loaded.Kept.Count > 5 ? ", …" : "")}.");
            }
            holder.Eval();
            return new FrozenLddmEncoder(holder, Path.GetFullPath(checkpointDir));
        }
        catch
        {
            holder.Dispose();
            throw;
        }
    }

    public Tensor Encode(IntTensor x0, Tensor? keep = null)
    {
        using var off = Grad.Off();
        return Network.Forward(x0, keep);
    }

    public void Dispose() => _holder.Dispose();

    /// <summary>Names the encoder's parameters <c>encoder.*</c>, as in the FUJI/SEQ networks it comes from.</summary>
    private sealed class Holder : Module
    {
        public Holder(Backend backend, DiTEncoder encoder)
            : base(backend) => Encoder = AddModule("encoder", encoder);

        public DiTEncoder Encoder { get; }
    }
}
