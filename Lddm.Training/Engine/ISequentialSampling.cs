namespace Lddm.Training.Engine;

/// <summary>
/// A jointly trained latent model that can also be sampled latent-first (LADD's "sequential" inference schedule):
/// N_lat latent steps with all-MASK tokens, then the token steps with the clean latent. FUJI and Di-LADD.
/// </summary>
public interface ISequentialSampling
{
    /// <summary>N_lat when <see cref="ITrainableModel.Generate(int, int, int, ulong, float, IProgress{int})"/> samples sequentially; 0 = jointly (default).</summary>
    int SequentialLatentSteps { get; }

    /// <summary>Sample sequentially with N_lat = <paramref name="latentSteps"/> (≥ 1), or jointly again with 0.</summary>
    void UseSequentialSampling(int latentSteps);
}
