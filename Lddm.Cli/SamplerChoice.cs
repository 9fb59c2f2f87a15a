using Lddm.Training.Engine;
using Lddm.Training.Runs;

namespace Lddm.Cli;

/// <summary>
/// <c>--sampler joint|sequential</c> and <c>--latent-steps N_lat</c> (default 8) of sample, eval, sweep and eval-gen:
/// how a FUJI checkpoint is sampled. joint (default): one MM-DiT call per step for tokens and latent together.
/// sequential (LADD's Di-LADD SEQ mode, for a model trained with independent_times): N_lat latent steps with all-MASK
/// tokens, then N token steps with the clean latent, at N + N_lat calls. <c>--sampler</c> takes one value for every
/// checkpoint, or a comma-separated list with one per checkpoint (so one FUJI checkpoint can be listed twice, sampled
/// both ways); sequential on a checkpoint that is not FUJI is an error.
/// </summary>
internal sealed class SamplerChoice
{
    private readonly IReadOnlyList<string> _samplers;

    private SamplerChoice(IReadOnlyList<string> samplers, int latentSteps)
    {
        _samplers = samplers;
        LatentSteps = latentSteps;
    }

    /// <summary>N_lat for sequential sampling.</summary>
    public int LatentSteps { get; }

    /// <summary>Reads the two options for <paramref name="checkpoints"/> checkpoints.</summary>
    public static SamplerChoice Parse(Options options, int checkpoints)
    {
        var samplers = (options.Value("sampler") ?? "joint").Split(',', StringSplitOptions.TrimEntries);
        int latentSteps = options.Int("latent-steps") ?? 8;
        foreach (string s in samplers)
        {
            if (s is not ("joint" or "sequential"))
            {
                throw new UsageException($"--sampler expects joint or sequential (or a comma-separated list of them) but got '{s}'");
            }
        }
        if (samplers.Length != 1 && samplers.Length != checkpoints)
        {
            throw new UsageException($"--sampler gives {samplers.Length} samplers for {checkpoints} checkpoints (give one, or one per checkpoint)");
        }
        if (latentSteps < 1)
        {
            throw new UsageException($"--latent-steps must be ≥ 1 but is {latentSteps}");
        }
        return new SamplerChoice(samplers, latentSteps);
    }

    /// <summary>Whether checkpoint <paramref name="index"/> is sampled sequentially.</summary>
    public bool Sequential(int index) => _samplers[_samplers.Count == 1 ? 0 : index] == "sequential";

    /// <summary>
    /// Sets checkpoint <paramref name="index"/>'s sampler on its model; returns the label suffix ("" for joint,
    /// "-seq{N_lat}" for sequential). Throws a clear error for sequential on a model that is not FUJI or was trained
    /// without independent_times.
    /// </summary>
    public string Apply(ITrainableModel model, int index, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!Sequential(index))
        {
            return "";
        }
        TrainingRun.UseSequentialSampling(model, LatentSteps, directory);
        Console.WriteLine($"sampler: {directory} sequentially: {LatentSteps} latent steps, then N token steps (N + {LatentSteps} calls)");
        return $"-seq{LatentSteps}";
    }
}
