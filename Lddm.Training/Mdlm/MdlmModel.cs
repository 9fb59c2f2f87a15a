using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Conditional;
using Lddm.Training.Engine;

namespace Lddm.Training.Mdlm;

/// <summary>
/// MDLM as an <see cref="ITrainableModel"/>: a DiT denoiser (every parameter trained), the MDLM objective, and the
/// ancestral sampler (with the time input when the model was trained with time conditioning).
/// </summary>
public sealed class MdlmModel : ITrainableModel
{
    private readonly List<(string Name, Parameter Parameter)> _trainable;

    public MdlmModel(DiT network, MdlmObjective objective, MdlmSampler sampler)
    {
        Dit = network ?? throw new ArgumentNullException(nameof(network));
        Objective = objective ?? throw new ArgumentNullException(nameof(objective));
        Sampler = sampler ?? throw new ArgumentNullException(nameof(sampler));
        _trainable = network.NamedParameters().ToList();
    }

    /// <summary>A fresh DiT of <paramref name="network"/>'s size, initialised from <paramref name="seed"/>, with the objective and sampler of <paramref name="options"/>.</summary>
    public static MdlmModel Create(Backend backend, DiTConfig network, MdlmOptions options, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        var dit = new DiT(backend, network);
        dit.Initialize(seed);
        return new(dit, options.CreateObjective(), new MdlmSampler(options.CreateSchedule()));
    }

    public string Kind => "mdlm";

    public DiT Dit { get; }

    public MdlmObjective Objective { get; }

    public MdlmSampler Sampler { get; }

    public Module Network => Dit;

    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters => _trainable;

    public IStepLoss Loss(int[] x0, int batch, int length, ulong seed, long step, DropoutRng? dropout) =>
        Objective.Loss(Dit, x0, batch, length, seed, step, dropout);

    public GeneratedSamples Generate(int count, int length, int steps, ulong seed, float temperature = 1f, IProgress<int>? progress = null)
    {
        var run = Sampler.Run(Dit, count, length, steps, seed, temperature, Objective.Config.TimeConditioning, progress);
        return new GeneratedSamples(run.Tokens, run.Nfe);
    }

    public GeneratedSamples Generate(IReadOnlyList<GenerationTemplate> templates, int steps, ulong seed, int block = 0, float temperature = 1f,
        IProgress<int>? progress = null)
    {
        var (tokens, count, length) = ConditionalBatch.Of(templates, Dit.Config.Vocab - 1, Kind);
        var run = Sampler.Run(Dit, count, length, steps, seed, temperature, Objective.Config.TimeConditioning, progress, null, tokens, block);
        return new GeneratedSamples(run.Tokens, run.Nfe);
    }

    public void Dispose() => Dit.Dispose();
}
