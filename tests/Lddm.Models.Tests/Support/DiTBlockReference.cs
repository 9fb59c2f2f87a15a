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
            var sc = c.AsSpan(b * _cond, _cond).ToArray().Select(ReferenceMath.Silu).ToArray();
            var mod = ReferenceMath.Affine(sc, 1, _cond, 6 * h, p["modulation.weight"], p["modulation.bias"]); // (6h)
            double[] Chunk(int i) => mod.AsSpan(i * h, h).ToArray();
            var xb = x.AsSpan(b * _t * h, _t * h).ToArray();

            var u = Modulate(LayerNorm(xb), Chunk(0), Chunk(1));
            var attn = ReferenceMath.Affine(ReferenceMath.Attention(ReferenceMath.Affine(u, _t, h, 3 * h, p["attn.qkv.weight"], null), _t, _h, _heads, theta), _t, h, h, p["attn.out.weight"], null);
            var x1 = GatedAdd(xb, Chunk(2), attn);

            var u2 = Modulate(LayerNorm(x1), Chunk(3), Chunk(4));
            var hid = ReferenceMath.Affine(u2, _t, h, _f, p["mlp.fc1.weight"], p["mlp.fc1.bias"]).Select(ReferenceMath.Gelu).ToArray();
            var mlp = ReferenceMath.Affine(hid, _t, _f, h, p["mlp.fc2.weight"], p["mlp.fc2.bias"]);
            GatedAdd(x1, Chunk(5), mlp).CopyTo(y, b * _t * h);
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

}
