namespace Lddm.Kernels.Reference;

/// <summary>
/// Slow, obviously correct float64 attention: materialises S = s·QKᵀ, softmaxes each row over its allowed keys,
/// multiplies by V; the backward follows the textbook chain rule on the materialised P. Layout (B, H, T, D).
/// A row with no allowed key has o = 0, lse = −∞ and zero gradients (the kernels' contract).
/// </summary>
public static class AttentionReference
{
    /// <summary>Is key j allowed for query t of sequence b?</summary>
    public static bool Allowed(AttentionMask mask, int[]? validLengths, int b, int t, int j) =>
        ((mask & AttentionMask.Causal) == 0 || j <= t) &&
        ((mask & AttentionMask.KeyPadding) == 0 || j < validLengths![b]);

    /// <summary>Returns (o (B,H,T,D), lse (B,H,T)).</summary>
    public static (double[] O, double[] Lse) Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, int[]? validLengths, int batch, int heads, int tokens, int headDim, AttentionMask mask)
    {
        var o = new double[batch * heads * tokens * headDim];
        var lse = new double[batch * heads * tokens];
        var p = new double[tokens];
        double scale = 1 / Math.Sqrt(headDim);
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                int bh = (b * heads + h) * tokens;
                for (int t = 0; t < tokens; t++)
                {
                    lse[bh + t] = Probabilities(q, k, validLengths, b, bh, t, tokens, headDim, mask, scale, p);
                    for (int j = 0; j < tokens; j++)
                    {
                        for (int d = 0; d < headDim; d++)
                        {
                            o[(bh + t) * headDim + d] += p[j] * v[(bh + j) * headDim + d];
                        }
                    }
                }
            }
        }
        return (o, lse);
    }

    /// <summary>Returns (dq, dk, dv) for upstream gradient dO, each (B,H,T,D).</summary>
    public static (double[] Dq, double[] Dk, double[] Dv) Backward(ReadOnlySpan<float> q, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<float> dO, int[]? validLengths, int batch, int heads, int tokens,
        int headDim, AttentionMask mask)
    {
        int n = batch * heads * tokens * headDim;
        double[] dq = new double[n], dk = new double[n], dv = new double[n];
        var p = new double[tokens];
        var dp = new double[tokens];
        double scale = 1 / Math.Sqrt(headDim);
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                int bh = (b * heads + h) * tokens;
                for (int t = 0; t < tokens; t++)
                {
                    Probabilities(q, k, validLengths, b, bh, t, tokens, headDim, mask, scale, p);
                    // dP[j] = dO[t]·v[j];  softmax backward: dS[j] = P[j]·(dP[j] − Σ_i P[i]·dP[i]).
                    double pdp = 0;
                    for (int j = 0; j < tokens; j++)
                    {
                        dp[j] = 0;
                        for (int d = 0; d < headDim; d++)
                        {
                            dp[j] += (double)dO[(bh + t) * headDim + d] * v[(bh + j) * headDim + d];
                        }
                        pdp += p[j] * dp[j];
                    }
                    for (int j = 0; j < tokens; j++)
                    {
                        double ds = p[j] * (dp[j] - pdp) * scale;
                        for (int d = 0; d < headDim; d++)
                        {
                            int td = (bh + t) * headDim + d, jd = (bh + j) * headDim + d;
                            dv[jd] += p[j] * dO[td];
                            dq[td] += ds * k[jd];
                            dk[jd] += ds * q[td];
                        }
                    }
                }
            }
        }
        return (dq, dk, dv);
    }

    /// <summary>Fills p with row t's softmax over allowed keys (0 elsewhere); returns its lse (−∞ if none).</summary>
    private static double Probabilities(ReadOnlySpan<float> q, ReadOnlySpan<float> k, int[]? validLengths, int b,
        int bh, int t, int tokens, int headDim, AttentionMask mask, double scale, double[] p)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < tokens; j++)
        {
            p[j] = double.NegativeInfinity;
            if (Allowed(mask, validLengths, b, t, j))
            {
                double s = 0;
                for (int d = 0; d < headDim; d++)
                {
                    s += (double)q[(bh + t) * headDim + d] * k[(bh + j) * headDim + d];
                }
                p[j] = s * scale;
                max = Math.Max(max, p[j]);
            }
        }
        if (double.IsNegativeInfinity(max))
        {
            Array.Clear(p);
            return double.NegativeInfinity;
        }
        double sum = 0;
        for (int j = 0; j < tokens; j++)
        {
            p[j] = Math.Exp(p[j] - max);
            sum += p[j];
        }
        for (int j = 0; j < tokens; j++)
        {
            p[j] /= sum;
        }
        return max + Math.Log(sum);
    }
}
