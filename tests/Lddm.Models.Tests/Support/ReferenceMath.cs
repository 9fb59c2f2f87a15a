namespace Lddm.Models.Tests.Support;

/// <summary>
/// The float64 building blocks every network reference is written from (the maths, not the ops): affine maps,
/// multi-head attention with RoPE (rotate-half, angle t·θ^(−2i/D)), SiLU and tanh-GELU.
/// </summary>
public static class ReferenceMath
{
    /// <summary>(rows, n) · W (n, m) + bias (m).</summary>
    public static double[] Affine(double[] x, int rows, int n, int m, double[] w, double[]? bias)
    {
        var y = new double[rows * m];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < m; j++)
            {
                double s = bias?[j] ?? 0;
                for (int k = 0; k < n; k++)
                {
                    s += x[r * n + k] * w[k * m + j];
                }
                y[r * m + j] = s;
            }
        }
        return y;
    }

    /// <summary>
    /// qkv (T, 3h) with RoPE at positions 0 … T−1 → merged heads (T, h): softmax(q·kᵀ/√D)·v per head, query i
    /// attending to every key, or to keys j ≤ i when <paramref name="causal"/>.
    /// </summary>
    public static double[] Attention(double[] qkv, int t, int h, int heads, double theta, bool causal = false)
    {
        int d = h / heads, h3 = 3 * h;
        var o = new double[t * h];
        for (int hd = 0; hd < heads; hd++)
        {
            double[][] q = new double[t][], k = new double[t][];
            for (int i = 0; i < t; i++)
            {
                q[i] = Rope(qkv.AsSpan(i * h3 + hd * d, d).ToArray(), i, theta);
                k[i] = Rope(qkv.AsSpan(i * h3 + h + hd * d, d).ToArray(), i, theta);
            }
            for (int i = 0; i < t; i++)
            {
                int keys = causal ? i + 1 : t;
                var s = new double[keys];
                for (int j = 0; j < keys; j++)
                {
                    s[j] = q[i].Zip(k[j], (a, b) => a * b).Sum() / Math.Sqrt(d);
                }
                double max = s.Max(), z = s.Sum(v => Math.Exp(v - max));
                for (int j = 0; j < keys; j++)
                {
                    double pj = Math.Exp(s[j] - max) / z;
                    for (int e = 0; e < d; e++)
                    {
                        o[i * h + hd * d + e] += pj * qkv[j * h3 + 2 * h + hd * d + e];
                    }
                }
            }
        }
        return o;
    }

    /// <summary>Rotate-half RoPE of one head vector at position <paramref name="t"/>.</summary>
    public static double[] Rope(double[] x, int t, double theta)
    {
        int half = x.Length / 2;
        var y = new double[x.Length];
        for (int i = 0; i < half; i++)
        {
            double a = t * Math.Pow(theta, -2.0 * i / x.Length);
            y[i] = x[i] * Math.Cos(a) - x[i + half] * Math.Sin(a);
            y[i + half] = x[i + half] * Math.Cos(a) + x[i] * Math.Sin(a);
        }
        return y;
    }

    public static double Silu(double u) => u / (1 + Math.Exp(-u));

    public static double Gelu(double u) => 0.5 * u * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (u + 0.044715 * u * u * u)));
}
