using System.Globalization;
using Lddm.Models;

namespace Lddm.Training.Runs;

/// <summary>
/// An upper-end estimate of the memory a training run needs, from its config alone (before anything is allocated):
/// weights, gradients, AdamW moments and EMA of every DiT the model kind builds, plus the activations one micro-batch
/// keeps on the tape (per block about 24·h floats per token and 3 attention maps of L² per head; the logits and
/// their gradient, 4·V floats per token). Deliberately generous: it exists to refuse configs that cannot fit with a
/// clear message instead of an abort deep in an allocation.
/// </summary>
public static class MemoryEstimate
{
    public static long Bytes(TrainConfig c, int vocabulary)
    {
        var nets = new List<DiTConfig> { TrainingRun.Preset(c.Preset, vocabulary, c.Length, 0f) }; // Di-LADD: its MM-DiT (the encoder is frozen)
        if (RunOptions.Kind(c) is ModelKind.Fuji or ModelKind.Seq)
        {
            nets.Add(TrainingRun.Preset(c.EncoderPreset, vocabulary, c.Length, 0f)); // the encoder
        }
        if (RunOptions.Kind(c) == ModelKind.Seq)
        {
            nets.Add(TrainingRun.Preset(c.EncoderPreset, vocabulary, c.Length, 0f)); // the latent prior
        }
        double floats = 0;
        double tokens = (double)c.Batch * c.Length;
        foreach (var n in nets)
        {
            double parameters = n.Layers * (12.0 * n.Hidden * n.Hidden + 6.0 * n.CondDim * n.Hidden) + 2.0 * n.Vocab * n.Hidden + 4.0 * n.CondDim * n.CondDim;
            floats += 5 * parameters; // weights, gradients, two moments, EMA
            floats += tokens * n.Layers * (24.0 * n.Hidden + 3.0 * n.Heads * c.Length) + tokens * 4.0 * n.Vocab;
        }
        return (long)(floats * sizeof(float));
    }

    /// <summary>Throws when the estimate exceeds <paramref name="availableBytes"/>, saying both and what to lower.</summary>
    public static void Require(TrainConfig c, int vocabulary, long availableBytes)
    {
        long needed = Bytes(c, vocabulary);
        if (needed > availableBytes)
        {
            throw new InsufficientMemoryException(string.Create(CultureInfo.InvariantCulture,
                $"this config needs about {needed / 1073741824.0:F2} GiB (model = {c.Model}, preset = {c.Preset}, batch = {c.Batch}, length = {c.Length}) but the machine has {availableBytes / 1073741824.0:F2} GiB available: lower batch (use grad_accumulation for the same tokens per step), length or preset."));
        }
    }
}
