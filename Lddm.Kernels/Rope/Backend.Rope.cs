using System.Globalization;

namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// Rotary position embedding, GPT-NeoX "rotate_half" convention (as MDLM's DiT / flash-attn): for head_dim D
    /// and pair i &lt; D/2 at position t, with angle a = t·theta^(−2i/D),
    /// y[i] = x[i]·cos a − x[i+D/2]·sin a;  y[i+D/2] = x[i+D/2]·cos a + x[i]·sin a.
    /// x, y: (batch, heads, tokens, headDim) row-major, the fused-attention layout; headDim must be even;
    /// <paramref name="theta"/> is the base (10000 in MDLM). Angles are computed in float64 and cast, so every
    /// backend uses the same cos/sin. <paramref name="y"/> may alias <paramref name="x"/>.
    /// </summary>
    public void RopeForward(DeviceBuffer<float> x, int batch, int heads, int tokens, int headDim, float theta,
        DeviceBuffer<float> y)
    {
        const string k = nameof(RopeForward);
        var (n, shape) = RopeShape(k, batch, heads, tokens, headDim, theta);
        Check.Buffer(this, x, n, k, nameof(x), shape);
        Check.Buffer(this, y, n, k, nameof(y), shape);
        RopeForwardCore(x, batch, heads, tokens, headDim, theta, y);
    }

    /// <summary>
    /// Backward of <see cref="RopeForward"/>: dx += R(−a)·dy, i.e. dx[i] += dy[i]·cos a + dy[i+D/2]·sin a and
    /// dx[i+D/2] += dy[i+D/2]·cos a − dy[i]·sin a (ACCUMULATES). Shapes as in the forward;
    /// <paramref name="dx"/> must not alias <paramref name="dy"/>.
    /// </summary>
    public void RopeBackward(DeviceBuffer<float> dy, int batch, int heads, int tokens, int headDim, float theta,
        DeviceBuffer<float> dx)
    {
        const string k = nameof(RopeBackward);
        var (n, shape) = RopeShape(k, batch, heads, tokens, headDim, theta);
        Check.Buffer(this, dy, n, k, nameof(dy), shape);
        Check.Buffer(this, dx, n, k, nameof(dx), shape);
        RopeBackwardCore(dy, batch, heads, tokens, headDim, theta, dx);
    }

    protected abstract void RopeForwardCore(DeviceBuffer<float> x, int batch, int heads, int tokens, int headDim,
        float theta, DeviceBuffer<float> y);

    protected abstract void RopeBackwardCore(DeviceBuffer<float> dy, int batch, int heads, int tokens, int headDim,
        float theta, DeviceBuffer<float> dx);

    private static (long N, string Shape) RopeShape(string k, int batch, int heads, int tokens, int headDim, float theta)
    {
        Check.Positive(batch, k, nameof(batch));
        Check.Positive(heads, k, nameof(heads));
        Check.Positive(tokens, k, nameof(tokens));
        Check.Positive(headDim, k, nameof(headDim));
        if (headDim % 2 != 0)
        {
            throw new ArgumentException(
                $"{k}: 'headDim' must be even (pairs (i, i + headDim/2) rotate together) but was {headDim}.", nameof(headDim));
        }
        Check.Finite(theta, k, nameof(theta));
        if (theta <= 1f)
        {
            throw new ArgumentOutOfRangeException(nameof(theta), theta,
                $"{k}: 'theta' (the frequency base) must be greater than 1 but was {theta.ToString(CultureInfo.InvariantCulture)}.");
        }
        long n = Check.Elements(k, batch, heads, tokens, headDim);
        return (n, $"(batch {batch}, heads {heads}, tokens {tokens}, headDim {headDim})");
    }
}
