using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Conditional;
using Lddm.Training.Diffusion;
using Lddm.Training.Encoders;
using Lddm.Training.Engine;

namespace Lddm.Training.Fuji;

/// <summary>
/// FUJI-LDDM (digest §2) as a trainable model: one MM-DiT denoising tokens and latent jointly, and the encoder that
/// makes y₀. <see cref="Network"/> holds "denoiser" and, for a learned encoder, "encoder"; a frozen encoder is used as
/// is and is neither in the network (checkpoints) nor in <see cref="TrainableParameters"/>.
/// Stages (LADD's JOINT training_stage): stage 1 trains the MM-DiT and the learned encoder on the token loss alone (no
/// latent loss; the latent head "denoiser.final_y" gets no gradient and is left out of the optimizer and the EMA);
/// stage 2 freezes the encoder (the stage-1 checkpoint's, loaded as a <see cref="FrozenLddmEncoder"/>, or any frozen
/// encoder) and trains the MM-DiT on both losses; stage −1 (or 0 for a model built directly) trains jointly from step 0.
/// </summary>
public sealed class FujiModel : ITrainableModel, ISequentialSampling
{
    private readonly Root _root;

    private FujiModel(FujiOptions options, Root root, ILatentEncoder? encoder)
    {
        Options = options;
        _root = root;
        Encoder = encoder;
        Stage = options.Stage is 1 or 2 ? options.Stage : -1;
        TrainableParameters = [.. root.NamedParameters().Where(p => Stage != 1 || !p.Name.StartsWith(LatentHead, StringComparison.Ordinal))];
        var chain = options.Latent.CreateChain();
        Objective = new FujiObjective(options.Tokens.CreateObjective(), chain, options.Latent.ObjectiveConfig());
        Sampler = new FujiSampler(options.Tokens.CreateSchedule(), chain, options.Latent.StepConfig(), options.Tokens.TimeConditioning, options.Latent.AllZeroLatent);
    }

    /// <summary>
    /// A model with explicit network sizes, initialised from options.Seed. <paramref name="encoder"/> null: no learned
    /// encoder (then <paramref name="frozenEncoder"/> gives y₀, or the latent must be all zeros). Stage 2 freezes the
    /// encoder, so it takes a frozen one (the stage-1 checkpoint's encoder).
    /// </summary>
    public static FujiModel Create(Backend backend, FujiOptions options, MmDiTConfig denoiser, DiTEncoderConfig? encoder,
        ILatentEncoder? frozenEncoder = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(denoiser);
        if (options.Stage is not (-1 or 0 or 1 or 2))
        {
            throw new ArgumentException($"FujiModel: stage = {options.Stage} (expected 1, 2, or −1/0 for one joint stage).", nameof(options));
        }
        EncoderChecks.Check("FujiModel", options.Latent.AllZeroLatent, denoiser, encoder, frozenEncoder);
        if (options.Stage == 2 && encoder is not null)
        {
            throw new ArgumentException(
                "FujiModel: stage 2 freezes the encoder, so it cannot be a learned one in the network: pass the stage-1 encoder as a frozen encoder (FrozenLddmEncoder of the init checkpoint).",
                nameof(encoder));
        }
        var learned = encoder is null ? null : new DiTEncoder(backend, encoder);
        var root = new Root(backend, new MmDiT(backend, denoiser), learned);
        root.Initialize(options.Seed);
        ILatentEncoder? e = learned is null ? frozenEncoder : new LearnedEncoder(learned);
        return new FujiModel(options, root, options.Latent.AllZeroLatent ? null : e);
    }

    /// <summary>The name prefix of the MM-DiT's latent head, which stage 1 does not train.</summary>
    public const string LatentHead = "denoiser.final_y.";

    public string Kind => "fuji";

    /// <summary>1: token loss only (encoder + MM-DiT less its latent head); 2: both losses, encoder frozen; −1: joint.</summary>
    public int Stage { get; }

    /// <summary>The options the model was built with.</summary>
    public FujiOptions Options { get; }

    public Module Network => _root;

    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters { get; }

    /// <summary>The MM-DiT f_θ(x_t, y_t, t_x, t_y) → (logits, latent head).</summary>
    public MmDiT Denoiser => _root.Denoiser;

    /// <summary>The learned DiT encoder (null when frozen or absent).</summary>
    public DiTEncoder? LearnedEncoder => _root.Encoder;

    /// <summary>E_φ as used by the loss (null with all_zero_latent).</summary>
    public ILatentEncoder? Encoder { get; }

    public FujiObjective Objective { get; }

    public FujiSampler Sampler { get; }

    public IStepLoss Loss(int[] x0, int batch, int length, ulong seed, long step, DropoutRng? dropout) =>
        Objective.Loss(Denoiser, Encoder, x0, batch, length, seed, step, dropout, latentLoss: Stage != 1);

    /// <summary>N_lat when <c>Generate</c> (both overloads) samples sequentially (latent first, then tokens); 0 = jointly (default).</summary>
    public int SequentialLatentSteps { get; private set; }

    /// <summary>
    /// Makes <c>Generate</c> sample sequentially with N_lat = <paramref name="latentSteps"/> latent steps (≥ 1), or
    /// jointly again with 0. Sequential sampling needs a model trained with independent_times: with the shared clock it
    /// never saw a clean latent beside masked tokens, nor a noisy latent beside an all-MASK sequence at another time.
    /// </summary>
    public void UseSequentialSampling(int latentSteps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(latentSteps);
        if (latentSteps > 0 && !Options.Latent.IndependentTimes)
        {
            throw new InvalidOperationException(
                "Sequential sampling of a FUJI model needs one trained with independent_times = true; this one was trained with t_y = t_x, so it never saw a clean latent beside masked tokens. Sample it jointly (--sampler joint).");
        }
        SequentialLatentSteps = latentSteps;
    }

    public GeneratedSamples Generate(int count, int length, int steps, ulong seed, float temperature = 1f, IProgress<int>? progress = null)
    {
        var samples = SequentialLatentSteps > 0
            ? Sampler.RunSequential(Denoiser, count, length, steps, SequentialLatentSteps, seed, temperature, progress)
            : Sampler.Run(Denoiser, count, length, steps, seed, temperature, progress);
        return new GeneratedSamples(samples.Tokens, samples.Nfe);
    }

    public GeneratedSamples Generate(IReadOnlyList<GenerationTemplate> templates, int steps, ulong seed, int block = 0, float temperature = 1f,
        IProgress<int>? progress = null)
    {
        var (tokens, count, length) = ConditionalBatch.Of(templates, Denoiser.Config.Vocab - 1, Kind);
        var samples = SequentialLatentSteps > 0
            ? Sampler.RunSequential(Denoiser, count, length, steps, SequentialLatentSteps, seed, temperature, progress, null, null, tokens, block)
            : Sampler.Run(Denoiser, count, length, steps, seed, temperature, progress, null, tokens, block);
        return new GeneratedSamples(samples.Tokens, samples.Nfe);
    }

    public void Dispose() => _root.Dispose();

    /// <summary>The root module: "denoiser" and, when learned, "encoder".</summary>
    private sealed class Root : Module
    {
        public Root(Backend backend, MmDiT denoiser, DiTEncoder? encoder)
            : base(backend)
        {
            Denoiser = AddModule("denoiser", denoiser);
            Encoder = encoder is null ? null : AddModule("encoder", encoder);
        }

        public MmDiT Denoiser { get; }

        public DiTEncoder? Encoder { get; }
    }
}
