namespace Lddm.Models.Tests;

/// <summary>
/// A float64 forward of <see cref="CausalTransformer"/> written from the maths (not from the ops): embedding lookup;
/// per block x ← x + Attn(LN₁(x)), x ← x + MLP(LN₂(x)) with affine LayerNorm (ε = 1e-5, biased variance), fused
/// bias-free QKV, RoPE (rotate-half, angle t·θ^(−2i/D)), causal softmax(q·kᵀ/√D)·v, tanh-GELU MLP; final affine
/// LayerNorm and the output Linear. Parameters by their dotted names in the model.
/// </summary>
public sealed class CausalTransformerReference(CausalConfig config)
{
    private readonly int _h = config.Hidden, _heads = config.Heads, _v = config.Vocab, _f = config.MlpRatio * config.Hidden;

    /// <summary>tokens (B, T) → logits (B, T, V).</summary>
    public double[] Forward(int[] tokens, int batch, int t, IReadOnlyDictionary<string, double[]> p)
    {
        int h = _h;
        var logits = new double[batch * t * _v];
        for (int b = 0; b < batch; b++)
        {
            var x = new double[t * h];
            for (int i = 0; i < t; i++)
            {
                Array.Copy(p["embed.weight"], tokens[b * t + i] * h, x, i * h, h);
            }
            for (int l = 0; l < config.Layers; l++)
            {
                string n = $"blocks.{l}.";
                var u = LayerNorm(x, t, p[n + "norm1.weight"], p[n + "norm1.bias"]);
                var attn = Affine(Attention(Affine(u, t, h, 3 * h, p[n + "attn.qkv.weight"], null), t), t, h, h, p[n + "attn.out.weight"], null);
                x = [.. x.Zip(attn, (a, c) => a + c)];
                var u2 = LayerNorm(x, t, p[n + "norm2.weight"], p[n + "norm2.bias"]);
                var hid = Affine(u2, t, h, _f, p[n + "mlp.fc1.weight"], p[n + "mlp.fc1.bias"]).Select(Gelu).ToArray();
                var mlp = Affine(hid, t, _f, h, p[n + "mlp.fc2.weight"], p[n + "mlp.fc2.bias"]);
                x = [.. x.Zip(mlp, (a, c) => a + c)];
            }
            var y = Affine(LayerNorm(x, t, p["norm.weight"], p["norm.bias"]), t, h, _v, p["head.weight"], p["head.bias"]);
            y.CopyTo(logits, b * t * _v);
        }
        return logits;
    }

    /// <summary>(rows, n) · W (n, m) + bias (m).</summary>
    private static double[] Affine(double[] x, int rows, int n, int m, double[] w, double[]? bias)
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

    private double[] LayerNorm(double[] x, int rows, double[] gamma, double[] beta)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * _h, _h);
            double mean = 0, var = 0;
            foreach (double v in row)
            {
                mean += v / _h;
            }
            foreach (double v in row)
            {
                var += (v - mean) * (v - mean) / _h;
            }
            double rstd = 1 / Math.Sqrt(var + 1e-5);
            for (int i = 0; i < _h; i++)
            {
                y[r * _h + i] = (row[i] - mean) * rstd * gamma[i] + beta[i];
            }
        }
        return y;
    }

    /// <summary>qkv (T, 3h) → merged heads (T, h), query i attending to keys j ≤ i.</summary>
    private double[] Attention(double[] qkv, int tokens)
    {
        int d = _h / _heads, h3 = 3 * _h;
        var o = new double[tokens * _h];
        for (int hd = 0; hd < _heads; hd++)
        {
            double[][] q = new double[tokens][], k = new double[tokens][];
            for (int t = 0; t < tokens; t++)
            {
                q[t] = Rope(qkv.AsSpan(t * h3 + hd * d, d).ToArray(), t);
                k[t] = Rope(qkv.AsSpan(t * h3 + _h + hd * d, d).ToArray(), t);
            }
            for (int i = 0; i < tokens; i++)
            {
                var s = new double[i + 1];
                for (int j = 0; j <= i; j++)
                {
                    s[j] = q[i].Zip(k[j], (a, b) => a * b).Sum() / Math.Sqrt(d);
                }
                double max = s.Max(), z = s.Sum(v => Math.Exp(v - max));
                for (int j = 0; j <= i; j++)
                {
                    double pj = Math.Exp(s[j] - max) / z;
                    for (int e = 0; e < d; e++)
                    {
                        o[i * _h + hd * d + e] += pj * qkv[j * h3 + 2 * _h + hd * d + e];
                    }
                }
            }
        }
        return o;
    }

    private double[] Rope(double[] x, int t)
    {
        int half = x.Length / 2;
        var y = new double[x.Length];
        for (int i = 0; i < half; i++)
        {
            double a = t * Math.Pow(config.RopeTheta, -2.0 * i / x.Length);
            y[i] = x[i] * Math.Cos(a) - x[i + half] * Math.Sin(a);
            y[i + half] = x[i + half] * Math.Cos(a) + x[i] * Math.Sin(a);
        }
        return y;
    }

    private static double Gelu(double u) => 0.5 * u * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (u + 0.044715 * u * u * u)));
}
