using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Encoders;
using Lddm.Training.Engine;
using Lddm.Training.Runs;

namespace Lddm.Training.Seq;

/// <summary>
/// SEQ-LDDM (digest §3) as a trainable model: p(x₀, y₀) = p_ψ(y₀)·p_θ(x₀ | y₀). <see cref="Network"/> holds "encoder"
/// (learned), "decoder" (the MM-DiT token decoder on the clean latent) and "prior" (the latent DiT) in BOTH stages, so
/// a stage-1 checkpoint loads into a stage-2 model. Stage 1 trains encoder + decoder (the prior is untouched); stage 2
/// freezes the encoder and trains decoder + prior. A frozen encoder is used as is and is never in the network.
/// </summary>
public sealed class SeqModel : ITrainableModel
{
    private readonly Root _root;

    private SeqModel(TrainConfig config, Root root, ILatentEncoder? encoder)
    {
        Config = config;
        Stage = config.Stage;
        _root = root;
        Encoder = encoder;
        string[] trained = Stage == 1 ? ["encoder.", "decoder."] : ["decoder.", "prior."];
        TrainableParameters = [.. root.NamedParameters().Where(p => trained.Any(prefix => p.Name.StartsWith(prefix, StringComparison.Ordinal)))];
        var chain = LatentChain.From(config);
        var latent = LatentObjectiveConfig.From(config);
        Objective = new SeqObjective(TrainingRun.Objective(config), chain, latent, config.SeqPriorTarget == "decoder", config.PriorRepeats);
        Sampler = new SeqSampler(TrainingRun.Schedule(config), chain, new LatentStepConfig(config.LatentSampler == "ddpm", latent.EpsPrediction),
            config.LatentSteps, config.TimeConditioning, config.AllZeroLatent);
    }

    /// <summary>The model a config names: decoder from <c>preset</c>, encoder and prior from <c>encoder_preset</c>
    /// (or <paramref name="frozenEncoder"/>); initialised from config.Seed. config.Stage must be 1 or 2.</summary>
    public static SeqModel Create(Backend backend, TrainConfig config, int vocabulary, ILatentEncoder? frozenEncoder = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        bool learned = frozenEncoder is null && !config.AllZeroLatent && config.Encoder == "learned";
        return Create(backend, config, LatentPresets.Denoiser(config, vocabulary), learned ? LatentPresets.Encoder(config, vocabulary) : null,
            LatentPresets.Prior(config, vocabulary), frozenEncoder);
    }

    /// <summary>A model with explicit network sizes (tests, small experiments).</summary>
    public static SeqModel Create(Backend backend, TrainConfig config, MmDiTConfig decoder, DiTEncoderConfig? encoder, LatentDiTConfig prior,
        ILatentEncoder? frozenEncoder = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(prior);
        config.Validate();
        if (config.Model != "seq")
        {
            throw new ArgumentException($"SeqModel: model = {config.Model} (expected seq).", nameof(config));
        }
        if (config.Stage is not (1 or 2))
        {
            throw new ArgumentException(
                $"SeqModel: stage = {config.Stage}; a SEQ model trains stage 1 or stage 2 (stage 0 is split into 1 then 2 by the CLI).", nameof(config));
        }
        LatentModels.CheckEncoders("SeqModel", config, decoder, encoder, frozenEncoder);
        if (prior.Patches != decoder.Patches || prior.PatchDim != decoder.PatchDim)
        {
            throw new ArgumentException(
                $"SeqModel: the prior models {prior.Patches} × {prior.PatchDim} latents but the decoder reads {decoder.Patches} × {decoder.PatchDim}.", nameof(prior));
        }
        var learned = encoder is null ? null : new DiTEncoder(backend, encoder);
        var root = new Root(backend, learned, new MmDiT(backend, decoder), new LatentDiT(backend, prior));
        root.Initialize(config.Seed);
        ILatentEncoder? e = learned is null ? frozenEncoder : new LearnedEncoder(learned);
        return new SeqModel(config, root, config.AllZeroLatent ? null : e);
    }

    public string Kind => "seq";

    public TrainConfig Config { get; }

    /// <summary>1: encoder + decoder trained; 2: encoder frozen, decoder + prior trained.</summary>
    public int Stage { get; }

    public Module Network => _root;

    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters { get; }

    /// <summary>The token decoder p_θ(x₀ | y₀): an MM-DiT on (x_t, y₀, t_x or 0, t_y = 0).</summary>
    public MmDiT Decoder => _root.Decoder;

    /// <summary>The latent prior D_ψ(y_t, t).</summary>
    public LatentDiT Prior => _root.Prior;

    /// <summary>The learned DiT encoder (null when frozen or absent).</summary>
    public DiTEncoder? LearnedEncoder => _root.Encoder;

    /// <summary>E_φ as used by the loss (null with all_zero_latent).</summary>
    public ILatentEncoder? Encoder { get; }

    public SeqObjective Objective { get; }

    public SeqSampler Sampler { get; }

    public IStepLoss Loss(int[] x0, int batch, int length, ulong seed, long step, DropoutRng? dropout) =>
        Objective.Loss(Decoder, Stage == 2 ? Prior : null, Encoder, x0, batch, length, seed, step, dropout);

    public GeneratedSamples Generate(int count, int length, int steps, ulong seed, float temperature = 1f, IProgress<int>? progress = null)
    {
        var samples = Sampler.Run(Prior, Decoder, count, length, steps, seed, temperature, progress);
        return new GeneratedSamples(samples.Tokens, samples.Nfe);
    }

    public void Dispose() => _root.Dispose();

    /// <summary>The root module: "encoder" (when learned), "decoder", "prior".</summary>
    private sealed class Root : Module
    {
        public Root(Backend backend, DiTEncoder? encoder, MmDiT decoder, LatentDiT prior)
            : base(backend)
        {
            Encoder = encoder is null ? null : AddModule("encoder", encoder);
            Decoder = AddModule("decoder", decoder);
            Prior = AddModule("prior", prior);
        }

        public DiTEncoder? Encoder { get; }

        public MmDiT Decoder { get; }

        public LatentDiT Prior { get; }
    }
}
