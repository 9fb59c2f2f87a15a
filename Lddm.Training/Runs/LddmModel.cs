using Lddm.Kernels;
using Lddm.Training.Checkpoints;
using Lddm.Training.Conditional;
using Lddm.Training.Data;
using Lddm.Training.Engine;
using Lddm.Training.Optim;

namespace Lddm.Training.Runs;

/// <summary>
/// What <see cref="LddmModel.Generate"/> draws: unconditionally, or completing a <see cref="Template"/> (a prompt or an
/// infill) in optional semi-autoregressive blocks.
/// </summary>
public sealed record GenerateOptions
{
    /// <summary>Sequences to draw (≥ 1).</summary>
    public int Count { get; init; } = 4;

    /// <summary>N, the token denoising steps (≥ 1; an AR model always takes one call per position).</summary>
    public int Steps { get; init; } = 128;

    /// <summary>The same seed gives the same samples on every backend.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Softmax temperature of the token draws (finite, &gt; 0).</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>
    /// FUJI and Di-LADD only: N_lat latent steps first, then the token steps with the clean latent (needs a model trained with
    /// independent_times); 0 (default) samples tokens and latent jointly.
    /// </summary>
    public int SequentialLatentSteps { get; init; }

    /// <summary>
    /// Conditional generation: every sequence completes this template (its fixed tokens kept bit for bit; build it with
    /// <see cref="GenerationTemplate.FromPrompt"/> or <see cref="GenerationTemplate.FromInfill"/> over the model's
    /// <see cref="TextData.Characters"/>); null (default) samples unconditionally at the run's length.
    /// </summary>
    public GenerationTemplate? Template { get; init; }

    /// <summary>With a template: semi-autoregressive blocks of this many positions; 0 (default) = one block.</summary>
    public int Block { get; init; }
}

/// <summary>What <see cref="LddmModel.Generate"/> drew: the token ids of every sequence and their decoded text.</summary>
/// <param name="Texts">One decoded string per sequence.</param>
/// <param name="Tokens">Count · Length token ids in [0, K), sequence after sequence.</param>
/// <param name="Length">Tokens per sequence.</param>
/// <param name="Nfe">Network evaluations the draw cost.</param>
public sealed record Generation(IReadOnlyList<string> Texts, int[] Tokens, int Length, int Nfe)
{
    /// <summary>The token ids of sequence <paramref name="index"/>.</summary>
    public ReadOnlySpan<int> Sequence(int index) => Tokens.AsSpan(index * Length, Length);
}

/// <summary>
/// A trained model loaded from a run directory for inference: the kind its saved config names, with the EMA weights
/// swapped in (frozen parameters, which have no EMA, keep their saved weights), in eval mode, its config validated
/// and its data (vocabulary and sequence length) rebuilt and checked. Nothing is written to the console.
/// <code>
/// using var backend = Devices.Create("cpu");
/// using var model = LddmModel.Load("runs/x", backend);
/// foreach (string text in model.Generate(new GenerateOptions { Count = 4, Steps = 16 }).Texts) { … }
/// </code>
/// </summary>
public sealed class LddmModel : IDisposable
{
    private LddmModel(string directory, int step, TrainConfig config, ITokenData data, ITrainableModel model)
    {
        Directory = directory;
        Step = step;
        Config = config;
        Data = data;
        Model = model;
    }

    /// <summary>The checkpoint directory it was loaded from (absolute).</summary>
    public string Directory { get; }

    /// <summary>The training step of the checkpoint.</summary>
    public int Step { get; }

    /// <summary>The run's saved config (keys newer than the checkpoint at their defaults).</summary>
    public TrainConfig Config { get; }

    /// <summary>The data the model was trained on: its vocabulary decodes the samples.</summary>
    public ITokenData Data { get; }

    /// <summary>The model (MDLM, FUJI, SEQ or AR) with its EMA weights, in eval mode.</summary>
    public ITrainableModel Model { get; }

    /// <summary>"mdlm", "fuji", "seq", "diladd" or "ar".</summary>
    public string Kind => Model.Kind;

    /// <summary>
    /// Loads the latest checkpoint in <paramref name="directory"/> (a run folder), rebuilding its data from the saved
    /// config. <paramref name="warn"/> receives warnings (a checkpoint from a newer version, keys at their defaults).
    /// </summary>
    public static LddmModel Load(string directory, Backend backend, Action<string>? warn = null) => Load(directory, backend, null, warn);

    /// <summary>
    /// Loads the latest checkpoint in <paramref name="directory"/> with <paramref name="data"/> as its data (a corpus
    /// the config cannot rebuild by name); null rebuilds it from the config. The data's sequence length must be the run's,
    /// and its vocabulary the network's.
    /// </summary>
    public static LddmModel Load(string directory, Backend backend, ITokenData? data, Action<string>? warn = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(backend);
        var store = new CheckpointStore(directory) { Warn = warn ?? (_ => { }) };
        if (!store.Exists)
        {
            throw new FileNotFoundException($"Checkpoint directory '{Path.GetFullPath(directory)}' holds no checkpoint (no 'latest' file): train a model there first.", directory);
        }
        var state = store.ReadState();
        var config = TrainConfig.FromJson(state.Config, Path.Combine(store.Directory, "state.json")).Validate();
        data ??= TrainingRun.Data(config, store.Directory);
        if (data.Length != config.Length)
        {
            throw new ArgumentException($"The data gives sequences of {data.Length} tokens but the checkpoint '{store.Directory}' was trained with length = {config.Length}.", nameof(data));
        }
        var model = TrainingRun.CreateModel(backend, config, data.Vocabulary);
        try
        {
            using var ema = new Ema(model.TrainableParameters, config.EmaDecay);
            store.Load(model.Network, null, ema, config.ToJson(), defaults: new TrainConfig().ToJson()); // keys newer than the checkpoint: defaults
            ema.SwapInto(); // the network now holds the EMA weights
            model.Network.Eval();
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return new LddmModel(store.Directory, state.Step, config, data, model);
    }

    /// <summary>
    /// Draws <see cref="GenerateOptions.Count"/> sequences of the run's length; <paramref name="progress"/> receives
    /// the steps done.
    /// </summary>
    public Generation Generate(GenerateOptions? options = null, IProgress<int>? progress = null)
    {
        var o = options ?? new GenerateOptions();
        if (o.Count < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), o.Count, "GenerateOptions.Count must be ≥ 1.");
        }
        if (o.Steps < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), o.Steps, "GenerateOptions.Steps must be ≥ 1.");
        }
        if (!float.IsFinite(o.Temperature) || o.Temperature <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), o.Temperature, "GenerateOptions.Temperature must be finite and > 0.");
        }
        if (o.SequentialLatentSteps < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), o.SequentialLatentSteps, "GenerateOptions.SequentialLatentSteps must be ≥ 0.");
        }
        var fuji = Model as ISequentialSampling;
        if (o.SequentialLatentSteps > 0 && fuji is null)
        {
            throw new ArgumentException($"GenerateOptions.SequentialLatentSteps samples a FUJI or Di-LADD model latent-first, but '{Directory}' is a {Kind} model.", nameof(options));
        }
        int previous = fuji?.SequentialLatentSteps ?? 0;
        fuji?.UseSequentialSampling(o.SequentialLatentSteps);
        try
        {
            int length = o.Template?.Length ?? Data.Length;
            var run = o.Template is null
                ? Model.Generate(o.Count, Data.Length, o.Steps, o.Seed, o.Temperature, progress)
                : Model.Generate([.. Enumerable.Repeat(o.Template, o.Count)], o.Steps, o.Seed, o.Block, o.Temperature, progress);
            var texts = new string[o.Count];
            for (int i = 0; i < o.Count; i++)
            {
                texts[i] = Data.Decode(run.Tokens.AsSpan(i * length, length));
            }
            return new Generation(texts, run.Tokens, length, run.Nfe);
        }
        finally
        {
            fuji?.UseSequentialSampling(previous);
        }
    }

    public void Dispose() => Model.Dispose();
}
