namespace Lddm.Training.Diffusion;

/// <summary>What the latent head predicts.</summary>
public enum LatentPrediction
{
    /// <summary>The clean latent ŷ₀ (default).</summary>
    Y0,

    /// <summary>The noise ε̂.</summary>
    Eps,
}

/// <summary>The latent loss.</summary>
public enum LatentLossKind
{
    /// <summary>Unweighted mean squared error over every latent coordinate (LADD's default).</summary>
    Mse,

    /// <summary>The squared error weighted by the continuous ELBO (SNR-difference) weight.</summary>
    Elbo,
}

/// <summary>How encoder corruption p_r (§2.4) zeroes the encoder's inputs.</summary>
public enum EncoderCorruptionMode
{
    /// <summary>LADD's: one coin per sequence (w.p. p_r) zeroes all its masked encoder inputs.</summary>
    Sequence,

    /// <summary>One coin per masked position w.p. p_r.</summary>
    Position,
}

/// <summary>The latent sampler's update.</summary>
public enum LatentSamplerKind
{
    /// <summary>Deterministic DDIM (default).</summary>
    Ddim,

    /// <summary>Stochastic DDPM ancestral step.</summary>
    Ddpm,
}

/// <summary>
/// The latent channel of LDDM shared by FUJI and SEQ (digest §1.3–§5): chain, prediction target, loss, weights and the
/// training-time corruptions. The defaults are LADD's.
/// </summary>
public sealed record LatentOptions
{
    /// <summary>ā²_t's shape.</summary>
    public GaussianScheduleKind Schedule { get; init; } = GaussianScheduleKind.Sqrt;

    /// <summary>p of <see cref="GaussianScheduleKind.Poly"/> (ā²_t = 1 − t^p).</summary>
    public double Power { get; init; } = 2;

    public LatentPrediction Prediction { get; init; } = LatentPrediction.Y0;

    public LatentLossKind Loss { get; init; } = LatentLossKind.Mse;

    /// <summary>w_x on the token loss.</summary>
    public double TokenWeight { get; init; } = 1;

    /// <summary>w_y on the latent loss.</summary>
    public double LatentWeight { get; init; } = 1;

    /// <summary>p_cfg: the fraction of sequences whose latent is zeroed (training only).</summary>
    public double Dropout { get; init; }

    /// <summary>Encoder corruption p_r ~ U[0, 0.9] (training only).</summary>
    public bool EncoderCorruption { get; init; }

    public EncoderCorruptionMode CorruptionMode { get; init; } = EncoderCorruptionMode.Sequence;

    /// <summary>Draw t_y independently of t_x.</summary>
    public bool IndependentTimes { get; init; }

    /// <summary>Ablation: the latent channel carries zeros.</summary>
    public bool AllZeroLatent { get; init; }

    public LatentSamplerKind Sampler { get; init; } = LatentSamplerKind.Ddim;

    /// <summary>The Gaussian chain these options name.</summary>
    public LatentChain CreateChain() => new(new GaussianSchedule(Schedule, Power));

    /// <summary>The objective's view of these options.</summary>
    public LatentObjectiveConfig ObjectiveConfig() => new(TokenWeight, LatentWeight, Prediction == LatentPrediction.Eps, Loss == LatentLossKind.Elbo,
        Dropout, EncoderCorruption, IndependentTimes, AllZeroLatent, CorruptionMode == EncoderCorruptionMode.Position);

    /// <summary>The sampler's view of these options.</summary>
    public LatentStepConfig StepConfig() => new(Sampler == LatentSamplerKind.Ddpm, Prediction == LatentPrediction.Eps);
}
