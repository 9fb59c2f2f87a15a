using System.Security.Cryptography;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Ar;
using Lddm.Training.Checkpoints;
using Lddm.Training.Encoders;

namespace Lddm.Training.Runs;

/// <summary>
/// Frozen pretrained encoders (<c>encoder = frozen-ar | frozen-mdlm | frozen-lddm</c>) kept outside the generator's
/// budget: loaded read-only from <c>encoder_checkpoint</c>, never trained, counted or saved with the generator, and
/// pinned by the SHA-256 of the weights file they are read from (<c>encoder_sha256</c>, filled in when training
/// starts). A generator whose encoder is missing or differs refuses to load, naming both hashes.
/// </summary>
public static class FrozenEncoders
{
    /// <summary>True for the encoder kinds read from another checkpoint.</summary>
    public static bool IsFrozen(TrainConfig c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return RunOptions.Encoder(c) != EncoderKind.Learned;
    }

    /// <summary>The frozen encoder a config names, after checking its hash (null for a learned encoder).</summary>
    public static ILatentEncoder? Load(Backend backend, TrainConfig c, int vocabulary)
    {
        ArgumentNullException.ThrowIfNull(c);
        if (!IsFrozen(c))
        {
            // FUJI stage 2 freezes the learned encoder of its stage-1 checkpoint (init); it is read, never trained.
            return TrainingRun.FreezesInitEncoder(c) ? LoadLddm(backend, c.Init, vocabulary) : null;
        }
        Verify(c);
        string dir = c.EncoderCheckpoint;
        ILatentEncoder encoder = RunOptions.Encoder(c) switch
        {
            EncoderKind.FrozenLddm => LoadLddm(backend, dir, vocabulary),
            EncoderKind.FrozenMdlm => LoadMdlm(backend, dir, c.LatentPatches, c.LatentDim, c.EncoderPooling),
            _ => LoadHidden(backend, dir, c.LatentPatches, c.LatentDim, c.EncoderPooling),
        };
        int? reads = encoder switch
        {
            FrozenMdlmEncoder m => m.Vocabulary,
            FrozenHiddenEncoder a => a.Vocabulary,
            _ => null,
        };
        if (reads is { } k && k != vocabulary)
        {
            (encoder as IDisposable)?.Dispose();
            throw new ArgumentException(
                $"encoder_checkpoint '{dir}' was trained on {k} tokens but this run's data has {vocabulary}: a frozen encoder must read the same vocabulary.");
        }
        return encoder;
    }

    /// <summary>
    /// The config with <c>encoder_sha256</c> set to the encoder's weights hash (checked when already set) and
    /// <c>encoder_checkpoint</c> made absolute, so the generator finds its encoder from any working directory.
    /// </summary>
    public static TrainConfig Pin(TrainConfig c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return IsFrozen(c) ? c with { EncoderSha256 = Verify(c), EncoderCheckpoint = Path.GetFullPath(c.EncoderCheckpoint) } : c;
    }

    /// <summary>
    /// The SHA-256 of the frozen encoder's weights file now; throws one clear error when the checkpoint is missing or
    /// (with <c>encoder_sha256</c> set) its hash differs, naming the path and both hashes.
    /// </summary>
    public static string Verify(TrainConfig c)
    {
        ArgumentNullException.ThrowIfNull(c);
        string dir = Path.GetFullPath(c.EncoderCheckpoint);
        var store = new CheckpointStore(dir);
        if (!store.Exists)
        {
            throw new FileNotFoundException(c.EncoderSha256.Length > 0
                ? $"Frozen encoder missing: encoder_checkpoint '{dir}' holds no checkpoint, but this generator was trained with the {c.Encoder} encoder whose weights have SHA-256 {c.EncoderSha256} (found: none). Restore that checkpoint at this path."
                : $"encoder = {c.Encoder}: encoder_checkpoint '{dir}' holds no checkpoint (no 'latest' file): train the encoder model there first.");
        }
        string file = store.InitialWeightsFile();
        string actual = Sha256(file);
        if (c.EncoderSha256.Length > 0 && !string.Equals(c.EncoderSha256, actual, StringComparison.OrdinalIgnoreCase))
        {
            throw Mismatch(dir, file, c.EncoderSha256, actual);
        }
        return actual;
    }

    /// <summary>The error for a frozen encoder whose weights differ from the ones the generator was trained with.</summary>
    public static InvalidDataException Mismatch(string dir, string file, string expected, string actual) => new(
        $"Frozen encoder differs: this generator was trained with the encoder in '{dir}' whose weights had SHA-256 {expected}, " +
        $"but {file} now has SHA-256 {actual}. Its latents would not be the ones the generator learned; restore the original encoder checkpoint (or retrain the generator).");

    /// <summary>
    /// Refuses an AR judge that is a generator's frozen encoder (same weights hash): scoring with the encoder would
    /// flatter the latent.
    /// </summary>
    public static void RefuseJudge(string judgeDir, TrainConfig generator, string label)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (!IsFrozen(generator))
        {
            return;
        }
        string judge = Sha256(new CheckpointStore(judgeDir).InitialWeightsFile());
        string encoder = generator.EncoderSha256.Length > 0 ? generator.EncoderSha256 : Verify(generator);
        if (string.Equals(judge, encoder, StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException(
                $"--judge '{Path.GetFullPath(judgeDir)}' is the frozen encoder of '{label}' (the same weights, SHA-256 {judge}): scoring with the encoder would flatter the latent. Use a judge trained separately (another seed or size).");
        }
    }

    /// <summary>The saved config of the checkpoint in <paramref name="checkpointDir"/>, validated.</summary>
    private static TrainConfig SavedConfig(string checkpointDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(checkpointDir);
        var store = new CheckpointStore(checkpointDir);
        return TrainConfig.FromJson(store.ReadState().Config, Path.Combine(store.Directory, "state.json")).Validate();
    }

    /// <summary>The MDLM of a Trainer checkpoint (<c>--model mdlm</c>) as a frozen encoder of P × d latents.</summary>
    public static FrozenMdlmEncoder LoadMdlm(Backend backend, string checkpointDir, int patches, int patchDim, string pooling = HiddenPooling.ChunkMean)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var config = SavedConfig(checkpointDir);
        if (RunOptions.Kind(config) != ModelKind.Mdlm)
        {
            throw new ArgumentException(
                $"encoder = frozen-mdlm needs an MDLM checkpoint (--model mdlm), but '{Path.GetFullPath(checkpointDir)}' holds a '{config.Model}' model.", nameof(checkpointDir));
        }
        return FrozenMdlmEncoder.Load(backend, checkpointDir, TrainingRun.ModelConfig(config, TrainingRun.Data(config, checkpointDir).Vocabulary), patches, patchDim, pooling);
    }

    /// <summary>The learned encoder of a FUJI/SEQ checkpoint for K = <paramref name="vocabulary"/> tokens, frozen.</summary>
    public static FrozenLddmEncoder LoadLddm(Backend backend, string checkpointDir, int vocabulary)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var config = TrainConfig.FromJson(new CheckpointStore(checkpointDir).ReadState().Config, checkpointDir);
        if (RunOptions.Kind(config) is not (ModelKind.Fuji or ModelKind.Seq) || RunOptions.Encoder(config) != EncoderKind.Learned || config.AllZeroLatent)
        {
            throw new ArgumentException(
                $"encoder = frozen-lddm needs a FUJI or SEQ checkpoint with a learned encoder, but '{checkpointDir}' is model = {config.Model}, encoder = {config.Encoder}, all_zero_latent = {config.AllZeroLatent}.");
        }
        return FrozenLddmEncoder.Load(backend, checkpointDir, LatentPresets.Encoder(config, vocabulary));
    }

    /// <summary>The AR model of a Trainer checkpoint (<c>--model ar</c>) as a frozen encoder of P × d latents.</summary>
    public static FrozenHiddenEncoder LoadHidden(Backend backend, string checkpointDir, int patches, int patchDim, string pooling = HiddenPooling.ChunkMean)
    {
        var (model, _) = LoadJudge(backend, checkpointDir);
        try
        {
            return new FrozenHiddenEncoder(model, patches, patchDim, pooling);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The AR network of a Trainer checkpoint with its EMA weights (live weights when it has no EMA), in eval mode,
    /// and the checkpoint's config.
    /// </summary>
    public static (CausalTransformer Model, TrainConfig Config) LoadJudge(Backend backend, string checkpointDir)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var config = SavedConfig(checkpointDir);
        if (RunOptions.Kind(config) != ModelKind.Ar)
        {
            throw new ArgumentException(
                $"Checkpoint '{new CheckpointStore(checkpointDir).Directory}' holds a '{config.Model}' model; the judge and the frozen encoder need an autoregressive one (--model ar).",
                nameof(checkpointDir));
        }
        var network = ArModel.ModelConfig(TrainingRun.ModelConfig(config, TrainingRun.Data(config, checkpointDir).Vocabulary));
        return (FrozenHiddenEncoder.LoadNetwork(backend, checkpointDir, network), config);
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string Sha256(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
