using System.Text.Json.Nodes;
using Lddm.Training.Optim;

namespace Lddm.Training.Engine;

/// <summary>
/// What the <see cref="TrainingLoop"/> needs: batch geometry, optimiser, EMA, schedule of logging, evaluation and
/// checkpoints, and the seed every draw is keyed on. <see cref="RunConfig"/> is the run's description as saved in every
/// checkpoint (opaque to the loop: compared on resume, except <see cref="ExtendableKeys"/>).
/// </summary>
public sealed record TrainerOptions
{
    public int Batch { get; init; } = 32;

    public int Length { get; init; } = 64;

    public int Steps { get; init; } = 600;

    public int GradAccumulation { get; init; } = 1;

    public double LearningRate { get; init; } = 1e-3;

    public int WarmupSteps { get; init; } = 100;

    public DecayKind Decay { get; init; } = DecayKind.Constant;

    public double WeightDecay { get; init; }

    public double GradClip { get; init; } = 1.0;

    public double EmaDecay { get; init; } = 0.99;

    public int LogEvery { get; init; } = 25;

    /// <summary>0 = only at the end.</summary>
    public int EvalEvery { get; init; } = 200;

    public int EvalSequences { get; init; } = 64;

    /// <summary>0 = only at the end.</summary>
    public int CheckpointEvery { get; init; } = 200;

    public ulong Seed { get; init; } = 1;

    /// <summary>A checkpoint directory whose EMA weights start the network ("" = none).</summary>
    public string Init { get; init; } = "";

    /// <summary>Only the <see cref="Init"/> tensors under this name prefix are loaded (null = all).</summary>
    public string? InitPrefix { get; init; }

    /// <summary>The run's description saved in every checkpoint and checked on resume.</summary>
    public JsonObject RunConfig { get; init; } = [];

    /// <summary>Keys of <see cref="RunConfig"/> a resumed run may change.</summary>
    public IReadOnlyList<string> ExtendableKeys { get; init; } = [];

    /// <summary>Values of keys a checkpoint written before they existed is read with (null = none).</summary>
    public JsonObject? Defaults { get; init; }
}
