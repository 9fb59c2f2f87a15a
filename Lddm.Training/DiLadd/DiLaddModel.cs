using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Conditional;
using Lddm.Training.Encoders;
using Lddm.Training.Engine;

namespace Lddm.Training.DiLadd;

/// <summary>
/// Di-LADD (LADD's discrete latents) as a trainable model: a frozen encoder's P × d latent, a vector quantiser that
/// turns it into P codes, and one MM-DiT with a discrete latent stream (<see cref="MmDiTConfig.LatentCodes"/> = C)
/// denoising tokens and codes jointly. <see cref="Network"/> holds "denoiser" and "quantizer"; the quantiser's state
/// (codebook, EMA sums and counts, update count) is in checkpoints but never in <see cref="TrainableParameters"/>: the
/// codebook moves by EMA in training mode only. The frozen encoder is used as is (not in the network).
/// Stages: 1 trains the MM-DiT on the token loss alone (its latent head "denoiser.final_y" untrained, the codebook
/// settling); 2 trains both losses (starting from stage 1's weights and codebook); −1 trains both from step 0.
/// </summary>
public sealed class DiLaddModel : ITrainableModel, ISequentialSampling
{
    private readonly Root _root;

    private DiLaddModel(DiLaddOptions options, Root root, ILatentEncoder encoder)
    {
        Options = options;
        _root = root;
        Encoder = encoder;
        Stage = options.Stage is 1 or 2 ? options.Stage : -1;
        TrainableParameters = [.. root.NamedParameters().Where(p => !p.Name.StartsWith(QuantizerPrefix, StringComparison.Ordinal)
            && (Stage != 1 || !p.Name.StartsWith(LatentHead, StringComparison.Ordinal)))];
        Objective = options.CreateObjective();
        Sampler = new DiLaddSampler(options.Tokens.CreateSchedule(), DiLaddOptions.CodeSchedule(), options.Tokens.TimeConditioning);
    }

    /// <summary>
    /// A model with the MM-DiT of <paramref name="denoiser"/> (its LatentCodes set to the options' C) over the frozen
    /// <paramref name="encoder"/>'s P × d latents, initialised from options.Seed (network and codebook).
    /// </summary>
    public static DiLaddModel Create(Backend backend, DiLaddOptions options, MmDiTConfig denoiser, ILatentEncoder encoder)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(encoder);
        if (options.Stage is not (-1 or 0 or 1 or 2))
        {
            throw new ArgumentException($"DiLaddModel: stage = {options.Stage} (expected 1, 2, or −1/0 for one joint stage).", nameof(options));
        }
        if (encoder.Trainable)
        {
            throw new ArgumentException("DiLaddModel: the encoder must be frozen (frozen-mdlm, frozen-ar or frozen-lddm): the code index cuts the gradient, so a trainable encoder would learn nothing from the latent loss.", nameof(encoder));
        }
        if (encoder.Patches != denoiser.Patches)
        {
            throw new ArgumentException($"DiLaddModel: the encoder gives {encoder.Patches} latent patches but the network takes {denoiser.Patches}.", nameof(encoder));
        }
        var config = denoiser with { LatentCodes = options.Codes, PatchDim = encoder.PatchDim };
        var quantizer = new VectorQuantizer(backend, options.Quantizer(encoder.PatchDim), options.Seed ^ QuantizerSalt);
        var root = new Root(backend, new MmDiT(backend, config), quantizer);
        root.Initialize(options.Seed);
        quantizer.ResetState(); // Initialize zeroed the registered state
        return new DiLaddModel(options, root, encoder);
    }

    /// <summary>The name prefix of the MM-DiT's latent head, which stage 1 does not train.</summary>
    public const string LatentHead = "denoiser.final_y.";

    /// <summary>The name prefix of the quantiser's state (saved, never trained).</summary>
    public const string QuantizerPrefix = "quantizer.";

    private const ulong QuantizerSalt = 0x5651_5EED;

    public string Kind => "diladd";

    /// <summary>1: token loss only; 2: both losses; −1: both from step 0.</summary>
    public int Stage { get; }

    public DiLaddOptions Options { get; }

    public Module Network => _root;

    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters { get; }

    /// <summary>The MM-DiT f_θ(x_t, y_t, t_x, t_y) → (token logits, code logits).</summary>
    public MmDiT Denoiser => _root.Denoiser;

    /// <summary>The vector quantiser (its state in the network, updated by EMA in training mode).</summary>
    public VectorQuantizer Quantizer => _root.Quantizer;

    /// <summary>The frozen encoder whose latents are quantised.</summary>
    public ILatentEncoder Encoder { get; }

    public DiLaddObjective Objective { get; }

    public DiLaddSampler Sampler { get; }

    public IStepLoss Loss(int[] x0, int batch, int length, ulong seed, long step, DropoutRng? dropout) =>
        Objective.Loss(Denoiser, Quantizer, Encoder, x0, batch, length, seed, step, dropout, latentLoss: Stage != 1);

    /// <summary>The codes y₀ = VQ(E(x₀)) of <paramref name="x0"/> (batch·P ids in [0, C)), without moving the codebook.</summary>
    public int[] Encode(int[] x0, int batch, int length)
    {
        ArgumentNullException.ThrowIfNull(x0);
        using var off = Grad.Off();
        using var tape = Tape.Begin();
        bool training = Quantizer.Training;
        Quantizer.Eval();
        try
        {
            var z = Encoder.Encode(IntTensor.FromArray(Denoiser.Backend, x0, batch, length));
            return Quantizer.Forward(z).Indices.ToArray();
        }
        finally
        {
            if (training)
            {
                Quantizer.Train();
            }
        }
    }

    public int SequentialLatentSteps { get; private set; }

    /// <summary>
    /// Makes <c>Generate</c> sample sequentially with N_lat = <paramref name="latentSteps"/> code steps (≥ 1), or
    /// jointly again with 0. Needs a model trained with independent_times (else it never saw clean codes beside masked
    /// tokens at another time).
    /// </summary>
    public void UseSequentialSampling(int latentSteps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(latentSteps);
        if (latentSteps > 0 && !Options.IndependentTimes)
        {
            throw new InvalidOperationException(
                "Sequential sampling of a Di-LADD model needs one trained with independent_times = true; this one was trained with t_y = t_x, so it never saw clean codes beside masked tokens. Sample it jointly (--sampler joint).");
        }
        SequentialLatentSteps = latentSteps;
    }

    /// <summary>The samples and their codes (joint, or sequential after <see cref="UseSequentialSampling"/>).</summary>
    public DiLaddSamples Sample(int count, int length, int steps, ulong seed, float temperature = 1f, IProgress<int>? progress = null) =>
        SequentialLatentSteps > 0
            ? Sampler.RunSequential(Denoiser, count, length, steps, SequentialLatentSteps, seed, temperature, progress)
            : Sampler.Run(Denoiser, count, length, steps, seed, temperature, progress);

    public GeneratedSamples Generate(int count, int length, int steps, ulong seed, float temperature = 1f, IProgress<int>? progress = null)
    {
        var samples = Sample(count, length, steps, seed, temperature, progress);
        return new GeneratedSamples(samples.Tokens, samples.Nfe);
    }

    /// <summary>
    /// Conditional samples and their codes, one per template (joint, or code-first after <see cref="UseSequentialSampling"/>):
    /// fixed tokens kept bit for bit and visible from the first step, free ones generated in blocks of
    /// <paramref name="block"/> (0 = one block). An all-fixed batch comes back as it is with no call (and no code drawn).
    /// </summary>
    public DiLaddSamples Sample(IReadOnlyList<GenerationTemplate> templates, int steps, ulong seed, int block = 0, float temperature = 1f,
        IProgress<int>? progress = null)
    {
        var (tokens, count, length) = ConditionalBatch.Of(templates, Denoiser.Config.Vocab - 1, Kind);
        return SequentialLatentSteps > 0
            ? Sampler.RunSequential(Denoiser, count, length, steps, SequentialLatentSteps, seed, temperature, progress, tokens, block)
            : Sampler.Run(Denoiser, count, length, steps, seed, temperature, progress, tokens, block);
    }

    public GeneratedSamples Generate(IReadOnlyList<GenerationTemplate> templates, int steps, ulong seed, int block = 0, float temperature = 1f,
        IProgress<int>? progress = null)
    {
        var samples = Sample(templates, steps, seed, block, temperature, progress);
        return new GeneratedSamples(samples.Tokens, samples.Nfe);
    }

    public void Dispose() => _root.Dispose();

    /// <summary>The root module: "denoiser" and "quantizer".</summary>
    private sealed class Root : Module
    {
        public Root(Backend backend, MmDiT denoiser, VectorQuantizer quantizer)
            : base(backend)
        {
            Denoiser = AddModule("denoiser", denoiser);
            Quantizer = AddModule("quantizer", quantizer);
        }

        public MmDiT Denoiser { get; }

        public VectorQuantizer Quantizer { get; }
    }
}
