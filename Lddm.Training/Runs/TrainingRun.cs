using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Ar;
using Lddm.Training.Data;
using Lddm.Training.Data.Text;
using Lddm.Training.Diffusion;
using Lddm.Training.DiLadd;
using Lddm.Training.Encoders;
using Lddm.Training.Engine;
using Lddm.Training.Fuji;
using Lddm.Training.Mdlm;
using Lddm.Training.Seq;

namespace Lddm.Training.Runs;

/// <summary>Builds the pieces a config names: data, model kind, MDLM network and objective.</summary>
public static class TrainingRun
{
    /// <summary>
    /// The data the config names. <c>corpus</c> is moby-dick, sotu, or the path of the user's own text (a UTF-8 file or
    /// a folder of .txt files, <see cref="OwnCorpus"/>): its prepared splits are cached in
    /// <paramref name="runDirectory"/>/corpus (read back when the run resumes or a checkpoint of it is loaded; a
    /// two-stage run's <c>stage1</c> folder reads its parent's); without a run directory they are prepared in memory.
    /// </summary>
    public static ITokenData Data(TrainConfig c, string? runDirectory = null) => c.Data switch
    {
        "sawtooth" => new SawtoothData(new SawtoothConfig(c.Length, c.SawtoothSaws, c.SawtoothScale)),
        _ => c.Corpus switch
        {
            "sotu" => new TextData(TextCorpus.Load(TextCorpus.SotuDirectory), c.Length, "sotu"),
            "moby-dick" => TextData.MobyDick(c.Length),
            _ => OwnText(c, runDirectory),
        },
    };

    private static TextData OwnText(TrainConfig c, string? runDirectory)
    {
        string? cache = CorpusCache(runDirectory);
        bool started = cache is not null && Started(Path.GetDirectoryName(Path.GetFullPath(cache))!); // the run that owns the cache
        return new TextData(OwnCorpus.Cached(c.Corpus, cache, c.Length, started), c.Length, c.Corpus);
    }

    /// <summary>Whether the run has saved its config or a checkpoint (then its corpus cache is its data, as it is).</summary>
    private static bool Started(string runDirectory) =>
        new Checkpoints.CheckpointStore(runDirectory).Exists || new Checkpoints.CheckpointStore(runDirectory).ReadRunConfig() is not null;

    /// <summary>Where a run keeps its own-text splits: RUN/corpus, or a two-stage run's (RUN/stage1 reads RUN/corpus).</summary>
    private static string? CorpusCache(string? runDirectory)
    {
        if (runDirectory is null)
        {
            return null;
        }
        string own = Path.Combine(runDirectory, OwnCorpus.CacheFolder);
        string? parent = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(runDirectory)));
        string? outer = parent is null ? null : Path.Combine(parent, OwnCorpus.CacheFolder);
        bool stage1 = Path.GetFileName(Path.TrimEndingDirectorySeparator(runDirectory)) == "stage1";
        return stage1 && !File.Exists(Path.Combine(own, OwnCorpus.SourceFile)) && outer is not null
            && File.Exists(Path.Combine(outer, OwnCorpus.SourceFile)) ? outer : own;
    }

    /// <summary>The DiT preset for K real tokens plus MASK, with the run's dropout.</summary>
    public static DiTConfig ModelConfig(TrainConfig c, int vocabulary) => Preset(c.Preset, vocabulary, c.Length, (float)c.Dropout);

    /// <summary>A named DiT size (xxs, tiny, small, base) for K real tokens plus MASK.</summary>
    public static DiTConfig Preset(string name, int vocabulary, int length, float dropout)
    {
        var preset = name switch
        {
            "xxs" => DiTConfig.Xxs(vocabulary + 1, length),
            "tiny" => DiTConfig.Tiny(vocabulary + 1, length),
            "small" => DiTConfig.Small(vocabulary + 1, length),
            "base" => DiTConfig.Base(vocabulary + 1, length),
            _ => throw new ArgumentException($"Unknown preset '{name}': expected xxs, tiny, small or base.", nameof(name)),
        };
        return preset with { Dropout = dropout };
    }

    public static MaskingSchedule Schedule(TrainConfig c) => RunOptions.Mdlm(c).CreateSchedule();

    public static MdlmObjective Objective(TrainConfig c) => RunOptions.Mdlm(c).CreateObjective();

    /// <summary>
    /// The model kind <see cref="TrainConfig.Model"/> names, built and initialised from the config (one line per kind);
    /// FUJI and SEQ get the frozen encoder the config names, loaded and checked.
    /// </summary>
    public static ITrainableModel CreateModel(Backend backend, TrainConfig c, int vocabulary) => RunOptions.Kind(c) switch
    {
        ModelKind.Mdlm => MdlmModel.Create(backend, ModelConfig(c, vocabulary), RunOptions.Mdlm(c), c.Seed),
        ModelKind.Fuji => Fuji(backend, c, vocabulary, FrozenEncoders.Load(backend, c, vocabulary)),
        ModelKind.Seq => Seq(backend, c, vocabulary, FrozenEncoders.Load(backend, c, vocabulary)),
        ModelKind.DiLadd => DiLadd(backend, c, vocabulary, FrozenEncoders.Load(backend, c, vocabulary)!),
        _ => Ar(backend, c, vocabulary),
    };

    /// <summary>The Di-LADD model a config names: the MM-DiT of <c>preset</c> with a latent stream of latent_codes codes
    /// over <paramref name="frozenEncoder"/>'s latent_patches × latent_dim latents; initialised from the seed.</summary>
    public static DiLaddModel DiLadd(Backend backend, TrainConfig c, int vocabulary, ILatentEncoder frozenEncoder) =>
        DiLaddModel.Create(backend, RunOptions.DiLadd(c), LatentPresets.Denoiser(c, vocabulary), frozenEncoder);

    /// <summary>The FUJI model a config names: the MM-DiT of <c>preset</c>, a learned DiT encoder of
    /// <c>encoder_preset</c> (or <paramref name="frozenEncoder"/>); initialised from the seed.</summary>
    public static FujiModel Fuji(Backend backend, TrainConfig c, int vocabulary, ILatentEncoder? frozenEncoder = null)
    {
        var options = RunOptions.Fuji(c);
        bool learned = frozenEncoder is null && !c.AllZeroLatent && RunOptions.Encoder(c) == EncoderKind.Learned;
        return FujiModel.Create(backend, options, LatentPresets.Denoiser(c, vocabulary), learned ? LatentPresets.Encoder(c, vocabulary) : null, frozenEncoder);
    }

    /// <summary>The SEQ model a config names: decoder from <c>preset</c>, encoder and prior from <c>encoder_preset</c>
    /// (or <paramref name="frozenEncoder"/>); initialised from the seed. stage must be 1 or 2.</summary>
    public static SeqModel Seq(Backend backend, TrainConfig c, int vocabulary, ILatentEncoder? frozenEncoder = null)
    {
        var options = RunOptions.Seq(c);
        bool learned = frozenEncoder is null && !c.AllZeroLatent && RunOptions.Encoder(c) == EncoderKind.Learned;
        return SeqModel.Create(backend, options, LatentPresets.Denoiser(c, vocabulary), learned ? LatentPresets.Encoder(c, vocabulary) : null,
            LatentPresets.Prior(c, vocabulary), frozenEncoder);
    }

    /// <summary>The AR model a config names: the causal transformer of <c>preset</c>, initialised from the seed.</summary>
    public static ArModel Ar(Backend backend, TrainConfig c, int vocabulary) =>
        ArModel.Create(backend, ArModel.ModelConfig(ModelConfig(c, vocabulary)), c.Seed);

    /// <summary>The latent encoder E_φ of a FUJI or SEQ model as its loss uses it (null for MDLM, AR, or an all-zero latent).</summary>
    public static ILatentEncoder? LatentEncoder(ITrainableModel model) => model switch
    {
        FujiModel f => f.Encoder,
        SeqModel q => q.Encoder,
        DiLaddModel d => d.Encoder, // the latent before quantisation
        _ => null,
    };

    /// <summary>
    /// Makes a FUJI or Di-LADD model sample sequentially (N_lat = <paramref name="latentSteps"/> latent steps, then the
    /// token steps), or jointly again with 0; any other kind is refused with an error naming <paramref name="source"/>.
    /// </summary>
    public static void UseSequentialSampling(ITrainableModel model, int latentSteps, string source)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model is not ISequentialSampling fuji)
        {
            throw new ArgumentException(
                $"sequential sampling draws a jointly trained FUJI or Di-LADD model latent-first, but '{source}' is a {model.Kind} model (SEQ samples sequentially already; use joint for it).");
        }
        try
        {
            fuji.UseSequentialSampling(latentSteps);
        }
        catch (InvalidOperationException e)
        {
            throw new ArgumentException($"'{source}': {e.Message}", e);
        }
    }

    /// <summary>Whether a config's stage 2 freezes the learned encoder of its stage-1 checkpoint (init): FUJI, stage 2,
    /// encoder = learned, a live latent.</summary>
    public static bool FreezesInitEncoder(TrainConfig c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return RunOptions.Kind(c) == ModelKind.Fuji && c.Stage == 2 && RunOptions.Encoder(c) == EncoderKind.Learned && !c.AllZeroLatent;
    }

    /// <summary>
    /// SEQ, FUJI or Di-LADD with stage 0 as two runs: stage 1 for round(steps · stage1_fraction) steps, then stage 2 for
    /// the rest, starting from the stage-1 checkpoint written to <paramref name="stage1Directory"/> (Di-LADD: its weights
    /// and its codebook). FUJI with a frozen encoder (or all_zero_latent) has no encoder to train first: Stage1 is null
    /// and stage 2 runs every step from scratch. Di-LADD always runs both (its stage 1 settles the codebook).
    /// </summary>
    public static (TrainConfig? Stage1, TrainConfig Stage2) Stages(TrainConfig c, string stage1Directory)
    {
        ArgumentNullException.ThrowIfNull(c);
        if (c.Model is not ("seq" or "fuji" or "diladd") || c.Stage != 0)
        {
            throw new ArgumentException($"Only model = seq, fuji or diladd with stage = 0 splits into two stages; got model = {c.Model}, stage = {c.Stage}.", nameof(c));
        }
        if (c.Model == "fuji" && (c.Encoder != "learned" || c.AllZeroLatent))
        {
            return (null, (c with { Stage = 2 }).Validate());
        }
        int steps1 = (int)Math.Round(c.Steps * c.Stage1Fraction);
        if (steps1 < 1 || steps1 >= c.Steps)
        {
            throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"steps = {c.Steps} with stage1_fraction = {c.Stage1Fraction} leaves {steps1} steps for stage 1 and {c.Steps - steps1} for stage 2; each needs ≥ 1."), nameof(c));
        }
        var stage1 = c with { Stage = 1, Steps = steps1 };
        // Stage 2 counts its steps from 1 again, and every draw is keyed on (seed, step): a derived seed gives it fresh
        // batches, times and masks instead of replaying stage 1's.
        var stage2 = c with { Stage = 2, Steps = c.Steps - steps1, Init = Path.GetFullPath(stage1Directory), Seed = Stage2Seed(c.Seed) };
        return (stage1.Validate(), stage2.Validate());
    }

    /// <summary>The seed of stage 2 in a two-stage run (distinct from stage 1's for every seed).</summary>
    public static ulong Stage2Seed(ulong seed) => seed ^ 0x5E0_57A6E2UL;

    /// <summary>The MDLM denoiser the config names, initialised from its seed.</summary>
    public static DiT Model(Backend backend, TrainConfig c, int vocabulary)
    {
        var model = new DiT(backend, ModelConfig(c, vocabulary));
        model.Initialize(c.Seed);
        return model;
    }
}
