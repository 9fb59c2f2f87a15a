using Lddm.Kernels;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Distributed;
using Lddm.Training.Engine;
using Lddm.Training.Mdlm;
using Lddm.Training.Optim;

namespace Lddm.Training.Runs;

/// <summary>
/// A <see cref="TrainingLoop"/> set up from a flat <see cref="TrainConfig"/>: the model kind it names (or one given),
/// the frozen encoder pinned by its hash, stage 2's initial weights, and the config saved in every checkpoint. What the
/// loop reports arrives on the <see cref="IProgress{T}"/> given (or as lines on a <see cref="TextWriter"/>).
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly TrainingLoop _loop;

    /// <summary>Trains the model kind the config names (<see cref="TrainingRun.CreateModel"/>), logging lines to <paramref name="log"/>.</summary>
    public Trainer(Backend backend, TrainConfig config, ITokenData data, string? outputDirectory, TextWriter log, ICollective? collective = null)
        : this(backend, config, data, outputDirectory, Lines(log), collective)
    {
    }

    /// <summary>Trains the model kind the config names, reporting to <paramref name="progress"/>.</summary>
    public Trainer(Backend backend, TrainConfig config, ITokenData data, string? outputDirectory, IProgress<TrainingProgress>? progress, ICollective? collective = null)
        : this(TrainingRun.CreateModel(backend, Checked(config).Validate(), Checked(data).Vocabulary), config, data, outputDirectory, progress, collective)
    {
    }

    /// <summary>Trains <paramref name="model"/> (which the trainer now owns and disposes), logging lines to <paramref name="log"/>.</summary>
    public Trainer(ITrainableModel model, TrainConfig config, ITokenData data, string? outputDirectory, TextWriter log, ICollective? collective = null)
        : this(model, config, data, outputDirectory, Lines(log), collective)
    {
    }

    /// <summary>
    /// Trains <paramref name="model"/>, which the trainer now owns (and disposes), as rank
    /// <paramref name="collective"/>.Rank of its ranks (default: one process). Every rank constructs its trainer at
    /// the same point; only rank 0 reports and writes to <paramref name="outputDirectory"/>.
    /// </summary>
    public Trainer(ITrainableModel model, TrainConfig config, ITokenData data, string? outputDirectory, IProgress<TrainingProgress>? progress, ICollective? collective = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        try
        {
            Config = FrozenEncoders.Pin(Checked(config).Validate()); // checkpoints record the frozen encoder's hash
            if (model.Kind != Config.Model)
            {
                throw new ArgumentException($"The model is a {model.Kind} but the config says model = {Config.Model}; checkpoints rebuild the kind the config names.", nameof(model));
            }
        }
        catch
        {
            model.Dispose(); // the trainer owns the model from the call on
            throw;
        }
        _loop = new TrainingLoop(model, RunOptions.Trainer(Config), data, outputDirectory, progress, collective);
        OutputDirectory = outputDirectory;
    }

    /// <summary>The run's config (with a frozen encoder pinned: absolute path and SHA-256).</summary>
    public TrainConfig Config { get; }

    /// <summary>The loop that does the work.</summary>
    public TrainingLoop Loop => _loop;

    public ITrainableModel Model => _loop.Model;

    public Ema Ema => _loop.Ema;

    /// <summary>Raised after each optimizer step with the step number (after logging, evaluation and checkpointing).</summary>
    public event Action<int>? StepCompleted
    {
        add => _loop.StepCompleted += value;
        remove => _loop.StepCompleted -= value;
    }

    /// <summary>Steps completed (restored by <see cref="Resume"/>).</summary>
    public int Step => _loop.Step;

    /// <summary>The last validation NELBO in nats per token (EMA weights), or NaN before the first evaluation.</summary>
    public double LastValidationNelbo => _loop.LastValidationNelbo;

    /// <summary>The data-parallel gradient all-reduce (null with one rank).</summary>
    public GradientAllReduce? AllReduce => _loop.AllReduce;

    private string? OutputDirectory { get; }

    /// <summary>Draws per validation sequence.</summary>
    public const int EvalDraws = TrainingLoop.EvalDraws;

    /// <summary>
    /// Continues from the checkpoint in the output directory. The saved config must match this run's except for the
    /// <see cref="TrainConfig.ExtendableKeys"/>; a generator trained with a frozen encoder refuses an encoder whose
    /// weights changed since.
    /// </summary>
    public void Resume()
    {
        if (OutputDirectory is not null && new CheckpointStore(OutputDirectory) is { Exists: true } store
            && store.ReadState().Config["encoder_sha256"]?.GetValue<string>() is { Length: > 0 } hash && hash != Config.EncoderSha256)
        {
            throw FrozenEncoders.Mismatch(Path.GetFullPath(Config.EncoderCheckpoint), new CheckpointStore(Config.EncoderCheckpoint).InitialWeightsFile(), hash, Config.EncoderSha256);
        }
        _loop.Resume();
    }

    /// <summary>Trains until <see cref="TrainConfig.Steps"/>; a cancelled run saves a checkpoint of the steps done.</summary>
    public void Run(CancellationToken cancel = default) => _loop.Run(cancel);

    /// <summary>Validation NELBO with the EMA weights (see <see cref="TrainingLoop.Validate"/>).</summary>
    public NelboEstimate Validate() => _loop.Validate();

    /// <summary>The validation NELBO in nats per token.</summary>
    public double ValidationNelbo() => _loop.ValidationNelbo();

    public void Dispose() => _loop.Dispose();

    /// <summary>Each report's message as one line of <paramref name="log"/> (warnings prefixed "warning: ").</summary>
    public static IProgress<TrainingProgress> Lines(TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        return new SynchronousProgress<TrainingProgress>(p => log.WriteLine(p.Event == TrainingEvent.Warning ? $"warning: {p.Message}" : p.Message));
    }

    private static T Checked<T>(T value)
        where T : class => value ?? throw new ArgumentNullException(nameof(value));
}
