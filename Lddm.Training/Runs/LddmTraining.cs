using System.Globalization;
using Lddm.Kernels;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Distributed;
using Lddm.Training.Engine;

namespace Lddm.Training.Runs;

/// <summary>How <see cref="LddmTraining.Train(Backend, TrainConfig, ITokenData, string, LddmTrainingOptions?, CancellationToken)"/> runs.</summary>
public sealed record LddmTrainingOptions
{
    /// <summary>Receives every report (on rank 0): setup notes, progress lines, evaluations, checkpoints, warnings.</summary>
    public IProgress<TrainingProgress>? Progress { get; init; }

    /// <summary>Continue the checkpoint in the output directory when there is one (else start at step 1).</summary>
    public bool Resume { get; init; }

    /// <summary>The data-parallel group this process is a rank of (null: one process).</summary>
    public ICollective? Collective { get; init; }

    /// <summary>
    /// The output directory, already opened (locked) by the caller; null: rank 0 opens and locks it for the run, and
    /// refuses a non-empty one unless <see cref="Resume"/> is set.
    /// </summary>
    public RunDirectory? RunDirectory { get; init; }

    /// <summary>Called before each stage's first step, once its model is built and any checkpoint accepted its config.</summary>
    public Action<TrainConfig>? Started { get; init; }

    /// <summary>Called on rank 0 after the last stage completes, with its trainer (the network holds the live weights;
    /// <see cref="Trainer.Ema"/> holds the EMA ones).</summary>
    public Action<Trainer>? Finished { get; init; }
}

/// <summary>How a training run ended.</summary>
/// <param name="Completed">Every step of every stage ran (false: cancelled; the last state is checkpointed).</param>
/// <param name="Step">Steps completed in the last stage that ran.</param>
/// <param name="Directory">The output directory (the final stage's checkpoints; stage 1 of two is in its "stage1" folder).</param>
/// <param name="ValidationNelbo">The last validation NELBO (nats per token, EMA weights), NaN when none ran.</param>
public sealed record LddmTrainingResult(bool Completed, int Step, string Directory, double ValidationNelbo);

/// <summary>
/// Trains the model a <see cref="TrainConfig"/> names into a run directory, from code: progress through
/// <see cref="IProgress{T}"/>, cancellation through a <see cref="CancellationToken"/> (a cancelled run saves a
/// checkpoint and can be resumed). SEQ and FUJI with stage 0 train stage 1 into DIR/stage1, then stage 2 from it into
/// DIR (FUJI with a frozen encoder: stage 2 alone). Nothing is written to the console.
/// </summary>
public static class LddmTraining
{
    /// <summary>Trains on the data the config names (the bundled corpus, a named one, or the sawtooth).</summary>
    public static LddmTrainingResult Train(Backend backend, TrainConfig config, string outputDirectory, LddmTrainingOptions? options = null,
        CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Train(backend, config, TrainingRun.Data(config.Validate(), outputDirectory), outputDirectory, options, cancel);
    }

    /// <summary>Trains on <paramref name="data"/> (for example a corpus of your own text); its length must be the config's.</summary>
    public static LddmTrainingResult Train(Backend backend, TrainConfig config, ITokenData data, string outputDirectory,
        LddmTrainingOptions? options = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        config.Validate();
        var o = options ?? new LddmTrainingOptions();
        var collective = o.Collective ?? SingleProcess.Instance;
        var progress = collective.Rank == 0 ? o.Progress : null;
        void Note(string message) => progress?.Report(new TrainingProgress(TrainingEvent.Note, 0, config.Steps, message));
        if (data.Length != config.Length)
        {
            throw new ArgumentException($"The data gives sequences of {data.Length} tokens but the config has length = {config.Length}.", nameof(data));
        }
        var run = o.RunDirectory;
        RunDirectory? owned = null;
        if (run is null && collective.Rank == 0)
        {
            owned = run = RunDirectory.Open(outputDirectory);
            foreach (string note in run.Notes)
            {
                Note($"output: {note}");
            }
            if (!o.Resume && !run.IsEmpty)
            {
                owned.Dispose();
                throw new ArgumentException($"Output directory '{outputDirectory}' is not empty: resume that run, or choose another directory.");
            }
        }
        try
        {
            var job = new Job(backend, data, run, o, collective, progress, cancel);
            if (RunOptions.Kind(config) is not (ModelKind.Seq or ModelKind.Fuji or ModelKind.DiLadd) || config.Stage != 0)
            {
                return job.One(config, outputDirectory, stage: 0, last: true);
            }
            string stage1Directory = Path.Combine(outputDirectory, "stage1");
            var (stage1, stage2) = TrainingRun.Stages(config, stage1Directory);
            var kind = RunOptions.Kind(config);
            if (stage1 is null)
            {
                Note($"FUJI: the encoder is frozen ({config.Encoder}), so stage 1 is skipped: stage 2 for all {stage2.Steps} steps");
                return job.One(stage2, outputDirectory, stage: 0, last: true);
            }
            Note(kind switch
            {
                ModelKind.Seq => $"SEQ stage 1 of 2: {stage1.Steps} steps (encoder + decoder) into {stage1Directory}",
                ModelKind.DiLadd => $"Di-LADD stage 1 of 2: {stage1.Steps} steps (MM-DiT, token loss only; the codebook settles) into {stage1Directory}",
                _ => $"FUJI stage 1 of 2: {stage1.Steps} steps (MM-DiT + encoder, token loss only) into {stage1Directory}",
            });
            var first = job.One(stage1, stage1Directory, stage: 1, last: false);
            if (!first.Completed)
            {
                return first;
            }
            Note(kind switch
            {
                ModelKind.Seq => $"SEQ stage 2 of 2: {stage2.Steps} steps (prior + decoder, encoder frozen) into {outputDirectory}",
                ModelKind.DiLadd => $"Di-LADD stage 2 of 2: {stage2.Steps} steps (MM-DiT, token + code losses, from stage 1's weights and codebook) into {outputDirectory}",
                _ => $"FUJI stage 2 of 2: {stage2.Steps} steps (MM-DiT, both losses, encoder frozen) into {outputDirectory}",
            });
            return job.One(stage2, outputDirectory, stage: 2, last: true);
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <summary>One run's shared state across its stages.</summary>
    private sealed class Job(Backend backend, ITokenData data, RunDirectory? run, LddmTrainingOptions options, ICollective collective,
        IProgress<TrainingProgress>? progress, CancellationToken cancel)
    {
        public LddmTrainingResult One(TrainConfig config, string outDir, int stage, bool last)
        {
            void Note(string message) => progress?.Report(new TrainingProgress(TrainingEvent.Note, 0, config.Steps, message) { Stage = stage });
            Note($"config: {config.ToJson().ToJsonString()}");
            var staged = progress is null ? null : new SynchronousProgress<TrainingProgress>(p => progress.Report(p with { Stage = stage }));
            using var trainer = new Trainer(backend, config, data, outDir, staged, collective);
            var network = trainer.Model.Network;
            long trained = trainer.Model.TrainableParameters.Sum(np => (long)np.Parameter.Shape.Elements);
            Note(string.Create(CultureInfo.InvariantCulture,
                $"model:  {trainer.Model.Kind} ({config.Preset}): {network.ParameterCount:N0} parameters, {trained:N0} trained"));
            // A snapshot: weights (all), EMA and two AdamW moments (trained ones), in float32, plus headers.
            run?.RequireSpace(4 * (network.ParameterCount + 3 * trained) + (1 << 20));
            if (options.Resume)
            {
                // Rank 0 alone reads the output directory; the others follow its decision.
                if (collective.Broadcast(collective.Rank == 0 && new CheckpointStore(outDir).Exists))
                {
                    trainer.Resume();
                }
                else
                {
                    Note($"resume: no checkpoint was saved in {outDir} yet; starting at step 1");
                }
            }
            options.Started?.Invoke(config);
            trainer.Run(cancel);
            bool completed = !cancel.IsCancellationRequested && trainer.Step >= config.Steps;
            if (completed && last && collective.Rank == 0)
            {
                options.Finished?.Invoke(trainer);
            }
            return new LddmTrainingResult(completed, trainer.Step, Path.GetFullPath(outDir), trainer.LastValidationNelbo);
        }
    }
}
