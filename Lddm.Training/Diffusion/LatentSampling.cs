using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Training.Diffusion;

/// <summary>How the latent chain is walked back (§4.2): the update rule and what the network's latent head predicts.</summary>
/// <param name="Ddpm">Ancestral (stochastic) steps instead of DDIM (deterministic, LADD's default).</param>
/// <param name="EpsPrediction">The head predicts ε; ŷ₀ = (y_t − s̄_t ε̂)/ā_t.</param>
public sealed record LatentStepConfig(bool Ddpm = false, bool EpsPrediction = false);

/// <summary>What an LDDM sampler produced: tokens (count·length ids, no MASK), the network calls, the final latents.</summary>
/// <param name="Latent">The latent y at the end, (count, P, d) row-major: ŷ₀ of the final call, or y at t_ε when the final
/// call was skipped (nothing left to unmask).</param>
public sealed record LatentSamples(int[] Tokens, int Nfe, float[] Latent);

/// <summary>The latent update shared by the FUJI and SEQ samplers, on the Gaussian kernels.</summary>
internal static class LatentSampling
{
    /// <summary>The stream of the initial y ~ N(0, I).</summary>
    public const ulong InitialStream = 0x6C696E69; // "lini"

    /// <summary>The stream of the DDPM noise z.</summary>
    public const ulong StepStream = 0x6C737470; // "lstp"

    /// <summary>The token chain's stream (MdlmSampler's, so the token draws of equal logits match MDLM's).</summary>
    public const ulong TokenStream = Mdlm.MdlmSampler.Stream;

    /// <summary>ŷ₀ of the head's output at time t: the output itself, or (y_t − s̄_t ε̂)/ā_t into <paramref name="scratch"/>.</summary>
    public static DeviceBuffer<float> PredictedY0(LatentChain chain, LatentStepConfig config, Tensor y, Tensor head, double t,
        int count, DeviceBuffer<float> scratch)
    {
        if (!config.EpsPrediction)
        {
            return head.Data;
        }
        var backend = y.Backend;
        int dim = y.Shape.Elements / count;
        using var abar = backend.Full(count, (float)chain.Abar(t));
        using var sbar = backend.Full(count, (float)chain.Sbar(t));
        backend.GaussianEpsToY0(y.Data, head.Data, abar, sbar, count, dim, scratch);
        return scratch;
    }

    /// <summary>
    /// y_s from y_t and ŷ₀ for step k (t → s) into <paramref name="next"/>: DDIM y_s = ā_s ŷ₀ + s̄_s (y_t − ā_t ŷ₀)/s̄_t, or
    /// DDPM y_s = μ(y_t, ŷ₀) + σ̃ z with z from (seed, <see cref="StepStream"/>, k·count·D + i).
    /// </summary>
    public static void Step(LatentChain chain, LatentStepConfig config, Tensor y, DeviceBuffer<float> y0Hat, Tensor next,
        double t, double s, int count, ulong seed, int k)
    {
        var backend = y.Backend;
        int dim = y.Shape.Elements / count;
        if (config.Ddpm)
        {
            var c = chain.Ddpm(t, s);
            using var coefYt = backend.Full(count, (float)c.CoefYt);
            using var coefY0 = backend.Full(count, (float)c.CoefY0);
            using var sigma = backend.Full(count, (float)c.Sigma);
            backend.GaussianDdpmStep(y.Data, y0Hat, coefYt, coefY0, sigma, count, dim, seed, StepStream, (long)k * count * dim, next.Data);
        }
        else
        {
            var c = chain.Ddim(t, s);
            using var abarT = backend.Full(count, (float)c.AbarT);
            using var sbarT = backend.Full(count, (float)c.SbarT);
            using var abarS = backend.Full(count, (float)c.AbarS);
            using var sbarS = backend.Full(count, (float)c.SbarS);
            backend.GaussianDdimStep(y.Data, y0Hat, abarT, sbarT, abarS, sbarS, count, dim, next.Data);
        }
    }

    /// <summary>y ~ N(0, I) of shape (count, P, d) from (seed, <see cref="InitialStream"/>), or zeros.</summary>
    public static Tensor Initial(Backend backend, int count, int patches, int dim, ulong seed, bool zero)
    {
        var y = Tensor.Zeros(backend, new Shape(count, patches, dim));
        if (!zero)
        {
            backend.FillNormal(seed, InitialStream, 0, y.Data);
        }
        return y;
    }
}
