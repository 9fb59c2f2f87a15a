using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Conditional;
using Lddm.Training.Diffusion;
using Lddm.Training.Encoders;
using Lddm.Training.Engine;

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

    private SeqModel(SeqOptions options, Root root, ILatentEncoder? encoder)
    {
        Options = options;
        Stage = options.Stage;
        _root = root;
        Encoder = encoder;
        string[] trained = Stage == 1 ? ["encoder.", "decoder."] : ["decoder.", "prior."];
        TrainableParameters = [.. root.NamedParameters().Where(p => trained.Any(prefix => p.Name.StartsWith(prefix, StringComparison.Ordinal)))];
        var chain = options.Latent.CreateChain();
        Objective = new SeqObjective(options.Tokens.CreateObjective(), chain, options.Latent.ObjectiveConfig(),
            options.PriorTarget == SeqPriorTarget.Decoder, options.PriorRepeats);
        Sampler = new SeqSampler(options.Tokens.CreateSchedule(), chain, options.Latent.StepConfig(),
            options.LatentSteps, options.Tokens.TimeConditioning, options.Latent.AllZeroLatent);
    }

    /// <summary>A model with explicit network sizes, initialised from options.Seed; options.Stage must be 1 or 2.</summary>
    public static SeqModel Create(Backend backend, SeqOptions options, MmDiTConfig decoder, DiTEncoderConfig? encoder, LatentDiTConfig prior,
        ILatentEncoder? frozenEncoder = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(prior);
        if (options.Stage is not (1 or 2))
        {
            throw new ArgumentException(
                $"SeqModel: stage = {options.Stage}; a SEQ model trains stage 1 or stage 2 (a two-stage run trains one, then the other).", nameof(options));
        }
        if (options.PriorRepeats is < 1 or > 256)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.PriorRepeats, "SeqModel: prior_repeats must be 1..256.");
        }
        EncoderChecks.Check("SeqModel", options.Latent.AllZeroLatent, decoder, encoder, frozenEncoder);
        if (prior.Patches != decoder.Patches || prior.PatchDim != decoder.PatchDim)
        {
            throw new ArgumentException(
                $"SeqModel: the prior models {prior.Patches} × {prior.PatchDim} latents but the decoder reads {decoder.Patches} × {decoder.PatchDim}.", nameof(prior));
        }
        var learned = encoder is null ? null : new DiTEncoder(backend, encoder);
        var root = new Root(backend, learned, new MmDiT(backend, decoder), new LatentDiT(backend, prior));
        root.Initialize(options.Seed);
        ILatentEncoder? e = learned is null ? frozenEncoder : new LearnedEncoder(learned);
        return new SeqModel(options, root, options.Latent.AllZeroLatent ? null : e);
    }

    public string Kind => "seq";

    /// <summary>The options the model was built with.</summary>
    public SeqOptions Options { get; }

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

    /// <summary>
    /// Whether conditional generation takes its latent from the encoder on the template (free inputs zeroed, see
    /// <see cref="SeqSampler.Run"/>) instead of the unconditional prior. Off by default.
    /// </summary>
    public bool PromptAwareLatent { get; private set; }

    /// <summary>
    /// Turns the prompt-aware latent on or off. It needs the learned encoder and a model trained with
    /// encoder_corruption (the decoder then saw encodings of partly hidden sequences); otherwise a clear error.
    /// </summary>
    public void UsePromptAwareLatent(bool on)
    {
        if (on && (Encoder is null || !Options.Latent.EncoderCorruption))
        {
            throw new InvalidOperationException(
                "The prompt-aware SEQ latent encodes the template with its free positions hidden; it needs the model's encoder and a model trained with encoder_corruption = true (the decoder then saw such encodings).");
        }
        PromptAwareLatent = on;
    }

    public GeneratedSamples Generate(IReadOnlyList<GenerationTemplate> templates, int steps, ulong seed, int block = 0, float temperature = 1f,
        IProgress<int>? progress = null)
    {
        var (tokens, count, length) = ConditionalBatch.Of(templates, Decoder.Config.Vocab - 1, Kind);
        var samples = Sampler.Run(Prior, Decoder, count, length, steps, seed, temperature, progress, null, tokens, block,
            PromptAwareLatent ? Encoder : null);
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
