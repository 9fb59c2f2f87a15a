using Lddm.Autograd;
using Lddm.Models;
using Lddm.Training.Conditional;

namespace Lddm.Training.Engine;

/// <summary>One batch's training loss and what is needed to report its NELBO.</summary>
public interface IStepLoss
{
    /// <summary>The scalar loss on the tape (shape (1)); call Backward on it.</summary>
    Tensor Value { get; }

    /// <summary>
    /// The batch's negative ELBO in nats per token: every term of the model's bound (tokens, and for LDDM the latent
    /// chain), whatever the training weights. Read it before the tape is disposed.
    /// </summary>
    double NelboPerToken();

    /// <summary>
    /// <see cref="NelboPerToken"/> to be read later, after the tape is gone (the training loop reads it only when it
    /// logs): by default read now; a loss whose NELBO needs device data keeps a copy of it on the device instead,
    /// and the function reads (and frees) it — the same value, bit for bit. Call the function exactly once.
    /// </summary>
    Func<double> DeferNelboPerToken()
    {
        double nelbo = NelboPerToken();
        return () => nelbo;
    }

    /// <summary>
    /// The bound's terms in nats per token, summing to <see cref="NelboPerToken"/>: MDLM and AR have one ("tokens");
    /// LDDM splits it into the token term (given the latent) and the latent chain's term ("latent").
    /// </summary>
    IReadOnlyList<(string Term, double NatsPerToken)> Terms() => [("tokens", NelboPerToken())];

    /// <summary>
    /// Diagnostics of the batch that are not part of the bound (Di-LADD: the code perplexity, codes used and dead codes);
    /// evaluation averages them over batches. None by default.
    /// </summary>
    IReadOnlyList<(string Name, double Value)> Statistics() => [];
}

/// <summary>What a generator produced: count·length token ids in [0, K) (no MASK) and the network calls it cost.</summary>
/// <param name="Nfe">Network evaluations run (SEQ: token decoder calls + latent prior calls).</param>
public sealed record GeneratedSamples(int[] Tokens, int Nfe);

/// <summary>
/// A model kind the trainer, the evaluators and the CLI drive without knowing which it is (MDLM, FUJI, SEQ, the AR
/// judge): its networks under one root module (everything a checkpoint holds), the parameters being trained (frozen
/// ones excluded), its objective, and its sampler.
/// </summary>
public interface ITrainableModel : IDisposable
{
    /// <summary>"mdlm", "fuji", "seq", "diladd" or "ar".</summary>
    string Kind { get; }

    /// <summary>The root module: every parameter saved in and loaded from checkpoints, by dotted name.</summary>
    Module Network { get; }

    /// <summary>The parameters the optimizer, the EMA and the clipper act on (a frozen encoder is left out).</summary>
    IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters { get; }

    /// <summary>
    /// The loss of one batch x₀ (batch·length ids in [0, K)); every random draw is a function of (seed, step) so a run
    /// replays exactly. Call inside a tape.
    /// </summary>
    IStepLoss Loss(int[] x0, int batch, int length, ulong seed, long step, DropoutRng? dropout);

    /// <summary>
    /// Draws <paramref name="count"/> sequences of <paramref name="length"/> tokens with N = <paramref name="steps"/>
    /// token steps (a seed gives the same samples on every backend). Uses the weights currently in the network (swap
    /// the EMA in first).
    /// </summary>
    GeneratedSamples Generate(int count, int length, int steps, ulong seed, float temperature = 1f, IProgress<int>? progress = null);

    /// <summary>
    /// Conditional generation: one sequence per template (all of one length L), each template's fixed tokens kept bit
    /// for bit and visible from the first step, its free positions generated in N = <paramref name="steps"/> token steps,
    /// in semi-autoregressive blocks of <paramref name="block"/> positions (0 = one block of L, the ordinary sampler).
    /// All-free templates give <see cref="Generate(int, int, int, ulong, float, IProgress{int})"/>'s samples bit for bit;
    /// all-fixed ones come back as they are with no network call. Model kinds without it say so.
    /// </summary>
    GeneratedSamples Generate(IReadOnlyList<GenerationTemplate> templates, int steps, ulong seed, int block = 0, float temperature = 1f,
        IProgress<int>? progress = null) =>
        throw new NotSupportedException($"Conditional generation is not implemented for {Kind} models (mdlm, fuji, seq and diladd have it).");
}
