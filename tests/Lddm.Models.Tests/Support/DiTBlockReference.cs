namespace Lddm.Models.Tests.Support;

/// <summary>
/// A compact float64 forward of <see cref="DiTBlock"/>, written from the maths (not from the ops): LayerNorm without
/// affine (ε = 1e-5, biased variance), adaLN modulate, fused QKV, RoPE (rotate-half, angle t·θ^(−2i/D)),
/// softmax(q·kᵀ/√D)·v, tanh-GELU MLP, gated residuals. Parameters by their names in the block.
/// </summary>
public sealed class DiTBlockReference(int batch, int tokens, int hidden, int heads, int condDim, int mlpRatio = 4, double theta = 10_000)
{
    private readonly int _b = batch, _t = tokens, _h = hidden, _heads = heads, _cond = condDim, _f = mlpRatio * hidden;

    /// <summary>x (B, T, h), c (B, cond) and the parameters → y (B, T, h).</summary>
    public double[] Forward(double[] x, double[] c, IReadOnlyDictionary<string, double[]> p)
    {
        int h = _h;
        var y = new double[x.Length];
        for (int b = 0; b < _b; b++)
        {
            var sc = c.AsSpan(b * _cond, _cond).ToArray().Select(Silu).ToArray();
            var mod = Affine(sc, 1, _cond, 6 * h, p["modulation.weight"], p["modulation.bias"]); // (6h)
            double[] Chunk(int i) => mod.AsSpan(i * h, h).ToArray();
            var xb = x.AsSpan(b * _t * h, _t * h).ToArray();

            var u = Modulate(LayerNorm(xb), Chunk(0), Chunk(1));
            var attn = Affine(Attention(Affine(u, _t, h, 3 * h, p["attn.qkv.weight"], null)), _t, h, h, p["attn.out.weight"], null);
            var x1 = GatedAdd(xb, Chunk(2), attn);

            var u2 = Modulate(LayerNorm(x1), Chunk(3), Chunk(4));
            var hid = Affine(u2, _t, h, _f, p["mlp.fc1.weight"], p["mlp.fc1.bias"]).Select(Gelu).ToArray();
            var mlp = Affine(hid, _t, _f, h, p["mlp.fc2.weight"], p["mlp.fc2.bias"]);
            GatedAdd(x1, Chunk(5), mlp).CopyTo(y, b * _t * h);
        }
        return y;
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

    private double[] LayerNorm(double[] x)
    {
        var y = new double[x.Length];
        for (int r = 0; r < _t; r++)
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
                y[r * _h + i] = (row[i] - mean) * rstd;
            }
        }
        return y;
    }

    private double[] Modulate(double[] x, double[] shift, double[] scale) =>
        [.. x.Select((v, i) => v * (1 + scale[i % _h]) + shift[i % _h])];

    private double[] GatedAdd(double[] residual, double[] gate, double[] x) =>
        [.. residual.Select((v, i) => v + gate[i % _h] * x[i])];

    /// <summary>qkv (T, 3h) → merged heads (T, h).</summary>
    private double[] Attention(double[] qkv)
    {
        int d = _h / _heads, h3 = 3 * _h;
        var o = new double[_t * _h];
        for (int hd = 0; hd < _heads; hd++)
        {
            double[][] q = new double[_t][], k = new double[_t][];
            for (int t = 0; t < _t; t++)
            {
                q[t] = Rope(qkv.AsSpan(t * h3 + hd * d, d).ToArray(), t);
                k[t] = Rope(qkv.AsSpan(t * h3 + _h + hd * d, d).ToArray(), t);
            }
            for (int i = 0; i < _t; i++)
            {
                var s = new double[_t];
                for (int j = 0; j < _t; j++)
                {
                    s[j] = q[i].Zip(k[j], (a, b) => a * b).Sum() / Math.Sqrt(d);
                }
                double max = s.Max(), z = s.Sum(v => Math.Exp(v - max));
                for (int j = 0; j < _t; j++)
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
            double a = t * Math.Pow(theta, -2.0 * i / x.Length);
            y[i] = x[i] * Math.Cos(a) - x[i + half] * Math.Sin(a);
            y[i + half] = x[i + half] * Math.Cos(a) + x[i] * Math.Sin(a);
        }
        return y;
    }

    private static double Silu(double u) => u / (1 + Math.Exp(-u));

    private static double Gelu(double u) => 0.5 * u * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (u + 0.044715 * u * u * u)));
}
