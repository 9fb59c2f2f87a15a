using Lddm.Training.Mdlm;

namespace Lddm.Training.Engine;

/// <summary>What a <see cref="TrainingProgress"/> report is about.</summary>
public enum TrainingEvent
{
    /// <summary>Something a log should say (the run's setup, init weights loaded, a stage starting, resume, stop).</summary>
    Note,

    /// <summary>A warning (for example a checkpoint written by a newer version): training continues.</summary>
    Warning,

    /// <summary>The averaged loss of the steps since the last report (every log_every steps and at the end).</summary>
    Step,

    /// <summary>A validation NELBO with the EMA weights (every eval_every steps and at the end).</summary>
    Evaluation,

    /// <summary>A checkpoint was written.</summary>
    Checkpoint,
}

/// <summary>
/// One progress report of a training run. The library writes nothing to the console: a host reads the typed fields,
/// or prints <see cref="Message"/> (the line <c>lddm train</c> prints).
/// </summary>
/// <param name="Event">What happened.</param>
/// <param name="Step">Steps completed in the current stage.</param>
/// <param name="Steps">The stage's total steps.</param>
/// <param name="Message">A one-line, human-readable description.</param>
public sealed record TrainingProgress(TrainingEvent Event, int Step, int Steps, string Message)
{
    /// <summary>Step: mean training loss (nats per token) since the last report.</summary>
    public double Loss { get; init; } = double.NaN;

    /// <summary>Step: mean NELBO estimate (nats per token) since the last report.</summary>
    public double Nelbo { get; init; } = double.NaN;

    /// <summary>Step: the learning rate of the last step.</summary>
    public double LearningRate { get; init; } = double.NaN;

    /// <summary>Step: the global gradient norm before clipping.</summary>
    public double GradientNorm { get; init; } = double.NaN;

    /// <summary>Step: training throughput of the whole job.</summary>
    public double TokensPerSecond { get; init; } = double.NaN;

    /// <summary>Step: estimated time to the end of the stage.</summary>
    public TimeSpan? Remaining { get; init; }

    /// <summary>Evaluation: the validation NELBO.</summary>
    public NelboEstimate? Validation { get; init; }

    /// <summary>Checkpoint: the directory written.</summary>
    public string? Checkpoint { get; init; }

    /// <summary>The stage of a two-stage SEQ/FUJI run (1 or 2), or 0 for a run of one stage.</summary>
    public int Stage { get; init; }
}

/// <summary>An <see cref="IProgress{T}"/> that calls its handler on the reporting thread, in order (unlike
/// <see cref="Progress{T}"/>, which posts to the thread pool).</summary>
public sealed class SynchronousProgress<T>(Action<T> handler) : IProgress<T>
{
    private readonly Action<T> _handler = handler ?? throw new ArgumentNullException(nameof(handler));

    public void Report(T value) => _handler(value);
}
