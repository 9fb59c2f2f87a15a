using System.Buffers;
using System.Globalization;

namespace Lddm.Kernels;

/// <summary>What <see cref="Backend.UnmaskStep"/> does with a masked position.</summary>
public enum UnmaskMode
{
    /// <summary>One ancestral step t → s: draw from q(x_s | x_t = MASK, x̂₀) (the token may stay MASK).</summary>
    Posterior,

    /// <summary>Final denoising step: draw every masked position from p (never MASK).</summary>
    Fill,

    /// <summary>Final denoising step, greedy: the argmax of p (ties → lowest id; no random draw).</summary>
    Argmax,
}

public abstract partial class Backend
{
    /// <summary>
    /// One MDLM sampler step on logits, fused (paper digest §1.2, §4.1), SUBS conventions: K real tokens plus MASK
    /// with id K, so <paramref name="logits"/> has V = K + 1 columns (<paramref name="vocab"/> = V ≥ 2) and the
    /// MASK logit is never read. For each row r with tokens[r] ≠ K (already unmasked) nothing changes. For a masked
    /// row, p = softmax(logits[r, 0..K) / τ) (float64, max-shifted) and, with a = (α_s − α_t)/(1 − α_t),
    /// <list type="bullet">
    /// <item><see cref="UnmaskMode.Posterior"/>: x_s ~ q with q(j) = a·p_j for real j and q(MASK) = (1 − α_s)/(1 − α_t) = 1 − a;</item>
    /// <item><see cref="UnmaskMode.Fill"/>: x_s ~ p;</item>
    /// <item><see cref="UnmaskMode.Argmax"/>: x_s = argmax p (ties → lowest id).</item>
    /// </list>
    /// The draw is an inverse CDF in float64 with u = <see cref="Philox.UniformDouble"/>(seed, stream, offset + r),
    /// real tokens in id order, MASK last: u ≥ a picks MASK; otherwise the first j with CDF_j > (u / a)·Z, where
    /// Z = Σ exp((l_j − max)·(1/τ)) and CDF_j is its running sum in the canonical association of <see cref="UnmaskRule"/>
    /// (so every backend adds the same doubles in the same order: CpuBackend and the ILGPU simulator return
    /// identical tokens; on CUDA, ptxas may fuse a multiply and an add of the exp into an FMA, so a token can differ
    /// only when u lands within a few ulp of a CDF step). If rounding leaves nothing past the threshold, Posterior picks MASK and Fill the first
    /// token where the CDF reaches Z. Logits must be finite or −∞ (all real logits −∞ is uniform); NaN or +∞
    /// gives an unspecified, but valid, id.
    /// Shapes: logits (rows, V); tokens (rows), in x_t, out x_s. Token ids are validated on the host: the call
    /// copies tokens back (rows ints) and throws <see cref="ArgumentOutOfRangeException"/> naming the row and value.
    /// No probability is ever written to memory.
    /// <para><paramref name="keep"/> (rows ints, optional) is the carry-over mask of conditional generation: a row with
    /// keep[r] ≠ 0 is left exactly as it is, MASK or not (a template's fixed tokens, and the positions outside the
    /// current block of semi-autoregressive decoding, which stay MASK). Rows with keep[r] = 0 behave as without it,
    /// drawing the same uniforms, so an all-zero mask gives the tokens of no mask bit for bit.</para>
    /// </summary>
    public void UnmaskStep(DeviceBuffer<float> logits, DeviceBuffer<int> tokens, int rows, int vocab, double alphaT,
        double alphaS, float temperature, ulong seed, ulong stream, long offset, UnmaskMode mode = UnmaskMode.Posterior,
        DeviceBuffer<int>? keep = null)
    {
        const string k = nameof(UnmaskStep);
        Check.Positive(rows, k, nameof(rows));
        if (vocab < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(vocab), vocab,
                $"{k}: 'vocab' is V = K + 1 (K real tokens plus MASK) and must be at least 2 but was {vocab}.");
        }
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, $"{k}: unknown mode {(int)mode}.");
        }
        if (!(temperature > 0f) || !float.IsFinite(temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature,
                $"{k}: 'temperature' must be positive and finite but was {temperature.ToString(CultureInfo.InvariantCulture)}.");
        }
        CheckAlphas(k, alphaT, alphaS, mode);
        if (offset < 0 || offset > long.MaxValue - rows)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                $"{k}: 'offset' must be in [0, {long.MaxValue} − rows] but was {offset}.");
        }
        Check.Buffer(this, logits, Check.Elements(k, rows, vocab), k, nameof(logits), $"(rows {rows}, vocab {vocab})");
        Check.Buffer(this, tokens, rows, k, nameof(tokens), $"(rows {rows})");
        if (keep is not null)
        {
            Check.Buffer(this, keep, rows, k, nameof(keep), $"(rows {rows})");
        }
        CheckTokenIds(k, tokens, rows, vocab);
        UnmaskStepCore(logits, tokens, rows, vocab, UnmaskRule.UnmaskProbability(alphaT, alphaS, mode),
            UnmaskRule.InverseTemperature(temperature), seed, stream, offset, mode, keep);
    }

    /// <summary>
    /// Backend part of <see cref="UnmaskStep"/>: arguments are valid; <paramref name="unmaskProbability"/> is
    /// a = (α_s − α_t)/(1 − α_t) in Posterior mode and 1 otherwise (<see cref="UnmaskRule.UnmaskProbability"/>);
    /// <paramref name="inverseTemperature"/> is <see cref="UnmaskRule.InverseTemperature"/>(τ); <paramref name="keep"/>,
    /// when given, has rows ints (nonzero: leave the row as it is).
    /// </summary>
    protected abstract void UnmaskStepCore(DeviceBuffer<float> logits, DeviceBuffer<int> tokens, int rows, int vocab,
        double unmaskProbability, double inverseTemperature, ulong seed, ulong stream, long offset, UnmaskMode mode,
        DeviceBuffer<int>? keep);

    private static void CheckAlphas(string k, double alphaT, double alphaS, UnmaskMode mode)
    {
        if (!(alphaT >= 0 && alphaT <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(alphaT), alphaT,
                $"{k}: 'alphaT' must be in [0, 1] but was {alphaT.ToString("R", CultureInfo.InvariantCulture)}.");
        }
        if (!(alphaS >= 0 && alphaS <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(alphaS), alphaS,
                $"{k}: 'alphaS' must be in [0, 1] but was {alphaS.ToString("R", CultureInfo.InvariantCulture)}.");
        }
        if (alphaS < alphaT)
        {
            throw new ArgumentOutOfRangeException(nameof(alphaS), alphaS,
                $"{k}: 'alphaS' = {alphaS.ToString("R", CultureInfo.InvariantCulture)} must be ≥ 'alphaT' = " +
                $"{alphaT.ToString("R", CultureInfo.InvariantCulture)} (s < t means α_s ≥ α_t).");
        }
        if (mode == UnmaskMode.Posterior && !(1 - alphaT > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(alphaT), alphaT,
                $"{k}: the posterior divides by 1 − alphaT, so 'alphaT' must be < 1 in Posterior mode but was " +
                $"{alphaT.ToString("R", CultureInfo.InvariantCulture)}.");
        }
    }

    private static void CheckTokenIds(string k, DeviceBuffer<int> tokens, int rows, int vocab)
    {
        int mask = vocab - 1;
        // Ids are small: copy them back through a pooled array (no per-call garbage) and check every row.
        var z = ArrayPool<int>.Shared.Rent(rows);
        try
        {
            tokens.CopyTo(z.AsSpan(0, rows));
            for (int r = 0; r < rows; r++)
            {
                if ((uint)z[r] > (uint)mask)
                {
                    throw new ArgumentOutOfRangeException(nameof(tokens), z[r],
                        $"{k}: tokens[{r}] = {z[r]} is not a token id in [0, {mask}] (vocab {vocab}, MASK = {mask}).");
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(z);
        }
    }
}
