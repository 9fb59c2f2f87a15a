using Lddm.Models.Tests.Support;

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
                var attn = ReferenceMath.Affine(ReferenceMath.Attention(ReferenceMath.Affine(u, t, h, 3 * h, p[n + "attn.qkv.weight"], null), t, _h, _heads, config.RopeTheta, causal: true), t, h, h, p[n + "attn.out.weight"], null);
                x = [.. x.Zip(attn, (a, c) => a + c)];
                var u2 = LayerNorm(x, t, p[n + "norm2.weight"], p[n + "norm2.bias"]);
                var hid = ReferenceMath.Affine(u2, t, h, _f, p[n + "mlp.fc1.weight"], p[n + "mlp.fc1.bias"]).Select(ReferenceMath.Gelu).ToArray();
                var mlp = ReferenceMath.Affine(hid, t, _f, h, p[n + "mlp.fc2.weight"], p[n + "mlp.fc2.bias"]);
                x = [.. x.Zip(mlp, (a, c) => a + c)];
            }
            var y = ReferenceMath.Affine(LayerNorm(x, t, p["norm.weight"], p["norm.bias"]), t, h, _v, p["head.weight"], p["head.bias"]);
            y.CopyTo(logits, b * t * _v);
        }
        return logits;
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

}
