using Lddm.Training.Diffusion;
using Lddm.Training.DiLadd;
using Lddm.Training.Engine;
using Lddm.Training.Fuji;
using Lddm.Training.Mdlm;
using Lddm.Training.Optim;
using Lddm.Training.Seq;

namespace Lddm.Training.Runs;

/// <summary>The model kinds a run trains.</summary>
public enum ModelKind
{
    Mdlm,
    Fuji,
    Seq,
    DiLadd,
    Ar,
}

/// <summary>Where FUJI's and SEQ's clean latent y₀ comes from.</summary>
public enum EncoderKind
{
    /// <summary>A DiT encoder trained with the model.</summary>
    Learned,

    /// <summary>The pooled last hidden states of an AR checkpoint.</summary>
    FrozenAr,

    /// <summary>The pooled last hidden states of an MDLM checkpoint.</summary>
    FrozenMdlm,

    /// <summary>The learned encoder of a FUJI/SEQ checkpoint.</summary>
    FrozenLddm,
}

/// <summary>
/// The one place the flat <see cref="TrainConfig"/> strings become types: each method folder (Mdlm/, Fuji/, Seq/, Ar/,
/// Engine/) receives its own options record and enums from here and never reads the config.
/// </summary>
public static class RunOptions
{
    /// <summary>model = mdlm | fuji | seq | diladd | ar.</summary>
    public static ModelKind Kind(TrainConfig c) => Parse(Checked(c).Model, "model",
        ("mdlm", ModelKind.Mdlm), ("fuji", ModelKind.Fuji), ("seq", ModelKind.Seq), ("diladd", ModelKind.DiLadd), ("ar", ModelKind.Ar));

    /// <summary>encoder = learned | frozen-ar | frozen-mdlm | frozen-lddm.</summary>
    public static EncoderKind Encoder(TrainConfig c) => Parse(Checked(c).Encoder, "encoder",
        ("learned", EncoderKind.Learned), ("frozen-ar", EncoderKind.FrozenAr), ("frozen-mdlm", EncoderKind.FrozenMdlm), ("frozen-lddm", EncoderKind.FrozenLddm));

    /// <summary>The token chain: mask_schedule, elbo_weighting, time_conditioning.</summary>
    public static MdlmOptions Mdlm(TrainConfig c) => new(
        Parse(Checked(c).MaskSchedule, "mask_schedule", ("loglinear", MaskScheduleKind.LogLinear), ("linear", MaskScheduleKind.Linear)),
        c.ElboWeighting, c.TimeConditioning);

    /// <summary>The latent channel: every latent_* key, the weights and the corruptions.</summary>
    public static LatentOptions Latent(TrainConfig c) => new()
    {
        Schedule = Parse(Checked(c).LatentSchedule, "latent_schedule", ("sqrt", GaussianScheduleKind.Sqrt), ("cosine", GaussianScheduleKind.Cosine),
            ("linear", GaussianScheduleKind.Linear), ("poly", GaussianScheduleKind.Poly)),
        Power = c.LatentPower,
        Prediction = Parse(c.LatentPrediction, "latent_prediction", ("y0", LatentPrediction.Y0), ("eps", LatentPrediction.Eps)),
        Loss = Parse(c.LatentLoss, "latent_loss", ("mse", LatentLossKind.Mse), ("elbo", LatentLossKind.Elbo)),
        TokenWeight = c.TokenWeight,
        LatentWeight = c.LatentWeight,
        Dropout = c.LatentDropout,
        EncoderCorruption = c.EncoderCorruption,
        CorruptionMode = Parse(c.EncoderCorruptionMode, "encoder_corruption_mode", ("sequence", EncoderCorruptionMode.Sequence), ("position", EncoderCorruptionMode.Position)),
        IndependentTimes = c.IndependentTimes,
        AllZeroLatent = c.AllZeroLatent,
        Sampler = Parse(c.LatentSampler, "latent_sampler", ("ddim", LatentSamplerKind.Ddim), ("ddpm", LatentSamplerKind.Ddpm)),
    };

    /// <summary>A FUJI model's options (the config validated, model = fuji; stage 0 trains as one joint stage).</summary>
    public static FujiOptions Fuji(TrainConfig c)
    {
        Require(Checked(c).Validate(), ModelKind.Fuji, "FujiModel");
        return new FujiOptions(Mdlm(c), Latent(c), c.Stage is 1 or 2 ? c.Stage : -1, c.Seed);
    }

    /// <summary>A SEQ model's options (the config validated, model = seq).</summary>
    public static SeqOptions Seq(TrainConfig c)
    {
        Require(Checked(c).Validate(), ModelKind.Seq, "SeqModel");
        return new SeqOptions(Mdlm(c), Latent(c), c.Stage,
            Parse(c.SeqPriorTarget, "seq_prior_target", ("clean", SeqPriorTarget.Clean), ("decoder", SeqPriorTarget.Decoder)),
            c.PriorRepeats, c.LatentSteps, c.Seed);
    }

    /// <summary>A Di-LADD model's options (the config validated, model = diladd): latent_codes, vq_commitment, vq_decay,
    /// independent_times, the weights; stage 0 trains as one joint stage.</summary>
    public static DiLaddOptions DiLadd(TrainConfig c)
    {
        Require(Checked(c).Validate(), ModelKind.DiLadd, "DiLaddModel");
        return new DiLaddOptions(Mdlm(c), c.LatentCodes, (float)c.VqCommitment, c.VqDecay, c.Stage is 1 or 2 ? c.Stage : -1,
            c.IndependentTimes, c.TokenWeight, c.LatentWeight, c.Seed);
    }

    /// <summary>The training loop's options; <see cref="TrainerOptions.RunConfig"/> is the config as saved in checkpoints.</summary>
    public static TrainerOptions Trainer(TrainConfig c) => new()
    {
        Batch = Checked(c).Batch,
        Length = c.Length,
        Steps = c.Steps,
        GradAccumulation = c.GradAccumulation,
        LearningRate = c.LearningRate,
        WarmupSteps = c.WarmupSteps,
        Decay = Parse(c.Decay, "decay", ("constant", DecayKind.Constant), ("cosine", DecayKind.Cosine)),
        WeightDecay = c.WeightDecay,
        GradClip = c.GradClip,
        EmaDecay = c.EmaDecay,
        LogEvery = c.LogEvery,
        EvalEvery = c.EvalEvery,
        EvalSequences = c.EvalSequences,
        CheckpointEvery = c.CheckpointEvery,
        Seed = c.Seed,
        Init = c.Init,
        InitPrefix = Kind(c) == ModelKind.Fuji ? "denoiser." : null, // FUJI stage 2 takes only the MM-DiT; its encoder is frozen
        RunConfig = c.ToJson(),
        ExtendableKeys = TrainConfig.ExtendableKeys,
        Defaults = new TrainConfig().ToJson(),
    };

    private static void Require(TrainConfig c, ModelKind kind, string owner)
    {
        if (Kind(c) != kind)
        {
            throw new ArgumentException($"{owner}: model = {c.Model} (expected {kind.ToString().ToLowerInvariant()}).", nameof(c));
        }
    }

    /// <summary>The enum value a config string names; an unknown one is an error naming the key and the choices.</summary>
    private static T Parse<T>(string value, string key, params (string Name, T Value)[] choices)
    {
        foreach (var (name, v) in choices)
        {
            if (name == value)
            {
                return v;
            }
        }
        throw new ArgumentException($"{key} = {value} (expected {string.Join(", ", choices.Select(x => x.Name))}).");
    }

    private static TrainConfig Checked(TrainConfig c) => c ?? throw new ArgumentNullException(nameof(c));
}
