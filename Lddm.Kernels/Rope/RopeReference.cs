namespace Lddm.Kernels.Reference;

/// <summary>
/// Slow, obviously correct float64 RoPE (rotate_half convention) over (batch, heads, tokens, headDim):
/// pair (i, i + D/2) at position t rotates by a = t·theta^(−2i/D).
/// </summary>
public static class RopeReference
{
    public static double[] Forward(ReadOnlySpan<float> x, int batch, int heads, int tokens, int headDim, double theta)
    {
        var y = new double[x.Length];
        Rotate(x, y, batch * heads, tokens, headDim, theta, sign: 1);
        return y;
    }

    /// <summary>Returns dx0 + R(−a)·dy: the transpose of the forward rotation, added to the prefill.</summary>
    public static double[] Backward(ReadOnlySpan<float> dy, int batch, int heads, int tokens, int headDim, double theta,
        ReadOnlySpan<float> dx0)
    {
        var rotated = new double[dy.Length];
        Rotate(dy, rotated, batch * heads, tokens, headDim, theta, sign: -1);
        for (int i = 0; i < rotated.Length; i++)
        {
            rotated[i] += dx0[i];
        }
        return rotated;
    }

    private static void Rotate(ReadOnlySpan<float> x, double[] y, int sequences, int tokens, int headDim, double theta,
        int sign)
    {
        int half = headDim / 2;
        for (int s = 0; s < sequences; s++)
            for (int t = 0; t < tokens; t++)
                for (int i = 0; i < half; i++)
                {
                    double a = sign * t * Math.Pow(theta, -2.0 * i / headDim);
                    int lo = (s * tokens + t) * headDim + i, hi = lo + half;
                    y[lo] = x[lo] * Math.Cos(a) - x[hi] * Math.Sin(a);
                    y[hi] = x[hi] * Math.Cos(a) + x[lo] * Math.Sin(a);
                }
    }
}
