namespace Lddm.Models.Tests.Support;

/// <summary>
/// Float64 forwards of <see cref="MmDiT"/>, <see cref="LatentDiT"/> and <see cref="DiTEncoder"/> written from the
/// maths (§2.2, §3.1, §1.5), one sequence at a time, with parameters looked up by their checkpoint names. Layouts:
/// Linear weights (in, out) row-major, activations (rows, features) row-major. The DiT blocks of the latent prior and
/// the encoder reuse <see cref="DiTBlockReference"/>.
/// </summary>
public static class LatentNetworkReference
{
    private const double Theta = 10_000;

    /// <summary>MmDiT: tokens (B, L), latent (B, P, d), times → logits (B, L, V) followed by the latent head (B, P, d).</summary>
    public static double[] MmDiT(MmDiTConfig cfg, int[] tokens, double[] latent, float[] tX, float[] tY, IReadOnlyDictionary<string, double[]> p)
    {
        int batch = tX.Length, l = tokens.Length / batch, np = cfg.Patches, d = cfg.PatchDim, h = cfg.Hidden, v = cfg.Vocab;
        var logits = new double[batch * l * v];
        var lat = new double[batch * np * d];
        for (int b = 0; b < batch; b++)
        {
            var ex = TimeEmbed(tX[b], p, "time_x.");
            var ey = TimeEmbed(tY[b], p, "time_y.");
            var c = ex.Select((e, i) => e + ey[i]).ToArray();
            var x = new double[l * h];
            for (int i = 0; i < l; i++)
            {
                Array.Copy(p["embed.weight"], tokens[b * l + i] * h, x, i * h, h);
            }
            var y = ReferenceMath.Affine(ReferenceMath.Affine(latent.AsSpan(b * np * d, np * d).ToArray(), np, d, 4 * h, p["latent_in1.weight"], p["latent_in1.bias"])
                .Select(ReferenceMath.Silu).ToArray(), np, 4 * h, h, p["latent_in2.weight"], p["latent_in2.bias"]);
            for (int k = 0; k < cfg.Layers; k++)
            {
                (x, y) = MmDiTBlock(x, y, c, l, np, h, cfg.Heads, p, $"blocks.{k}.");
            }
            FinalLayer(x, l, h, v, c, p, "final_x.").CopyTo(logits, b * l * v);
            FinalLayer(y, np, h, d, c, p, "final_y.").CopyTo(lat, b * np * d);
        }
        return [.. logits, .. lat];
    }

    /// <summary>LatentDiT: latent (B, P, d), t (B) → (B, P, d).</summary>
    public static double[] LatentDiT(LatentDiTConfig cfg, double[] latent, float[] t, IReadOnlyDictionary<string, double[]> p)
    {
        int batch = t.Length, np = cfg.Patches, h = cfg.Hidden, d = cfg.PatchDim;
        var block = new DiTBlockReference(1, np, h, cfg.Heads, cfg.CondDim);
        var y = new double[batch * np * d];
        for (int b = 0; b < batch; b++)
        {
            var c = TimeEmbed(t[b], p, "time.");
            var x = ReferenceMath.Affine(latent.AsSpan(b * np * d, np * d).ToArray(), np, d, h, p["patch_in.weight"], p["patch_in.bias"]);
            for (int k = 0; k < cfg.Layers; k++)
            {
                x = block.Forward(x, c, Sub(p, $"blocks.{k}."));
            }
            FinalLayer(x, np, h, d, c, p, "final.").CopyTo(y, b * np * d);
        }
        return y;
    }

    /// <summary>DiTEncoder: tokens (B, L), keep (B, L) or null → (B, P, d).</summary>
    public static double[] Encoder(DiTEncoderConfig cfg, int[] tokens, int batch, double[]? keep, IReadOnlyDictionary<string, double[]> p)
    {
        int l = tokens.Length / batch, np = cfg.Patches, h = cfg.Hidden, d = cfg.PatchDim;
        var block = new DiTBlockReference(1, l, h, cfg.Heads, cfg.CondDim);
        var y = new double[batch * np * d];
        for (int b = 0; b < batch; b++)
        {
            var c = TimeEmbed(0f, p, "time.");
            var x = new double[l * h];
            for (int i = 0; i < l; i++)
            {
                double s = keep?[b * l + i] ?? 1;
                for (int j = 0; j < h; j++)
                {
                    x[i * h + j] = s * p["embed.weight"][tokens[b * l + i] * h + j];
                }
            }
            for (int k = 0; k < cfg.Layers; k++)
            {
                x = block.Forward(x, c, Sub(p, $"blocks.{k}."));
            }
            var z = FinalLayer(x.AsSpan((l - np) * h, np * h).ToArray(), np, h, d, c, p, "final.");
            if (cfg.Normalize)
            {
                for (int i = 0; i < np; i++)
                {
                    double norm = Math.Sqrt(Enumerable.Range(0, d).Sum(j => z[i * d + j] * z[i * d + j]));
                    for (int j = 0; j < d; j++)
                    {
                        z[i * d + j] /= Math.Max(norm, 1e-12);
                    }
                }
            }
            z.CopyTo(y, b * np * d);
        }
        return y;
    }

    private static (double[] X, double[] Y) MmDiTBlock(double[] x, double[] y, double[] c, int l, int np, int h, int heads,
        IReadOnlyDictionary<string, double[]> p, string prefix)
    {
        var sc = c.Select(ReferenceMath.Silu).ToArray();
        var mx = ReferenceMath.Affine(sc, 1, c.Length, 6 * h, p[prefix + "tokens.modulation.weight"], p[prefix + "tokens.modulation.bias"]);
        var my = ReferenceMath.Affine(sc, 1, c.Length, 6 * h, p[prefix + "latent.modulation.weight"], p[prefix + "latent.modulation.bias"]);
        double[] Chunk(double[] m, int i) => m.AsSpan(i * h, h).ToArray();
        var qx = ReferenceMath.Affine(Modulate(LayerNorm(x, h), Chunk(mx, 0), Chunk(mx, 1)), l, h, 3 * h, p[prefix + "tokens.qkv.weight"], null);
        var qy = ReferenceMath.Affine(Modulate(LayerNorm(y, h), Chunk(my, 0), Chunk(my, 1)), np, h, 3 * h, p[prefix + "latent.qkv.weight"], null);
        var o = ReferenceMath.Attention([.. qx, .. qy], l + np, h, heads, Theta);
        var ax = ReferenceMath.Affine(o.AsSpan(0, l * h).ToArray(), l, h, h, p[prefix + "tokens.out.weight"], null);
        var ay = ReferenceMath.Affine(o.AsSpan(l * h, np * h).ToArray(), np, h, h, p[prefix + "latent.out.weight"], null);
        var x1 = GatedAdd(x, Chunk(mx, 2), ax);
        var y1 = GatedAdd(y, Chunk(my, 2), ay);
        var x2 = GatedAdd(x1, Chunk(mx, 5), Mlp(Modulate(LayerNorm(x1, h), Chunk(mx, 3), Chunk(mx, 4)), l, h, p, prefix + "tokens.mlp."));
        var y2 = GatedAdd(y1, Chunk(my, 5), Mlp(Modulate(LayerNorm(y1, h), Chunk(my, 3), Chunk(my, 4)), np, h, p, prefix + "latent.mlp."));
        return (x2, y2);
    }

    private static double[] Mlp(double[] u, int rows, int h, IReadOnlyDictionary<string, double[]> p, string prefix)
    {
        var hid = ReferenceMath.Affine(u, rows, h, 4 * h, p[prefix + "fc1.weight"], p[prefix + "fc1.bias"]).Select(ReferenceMath.Gelu).ToArray();
        return ReferenceMath.Affine(hid, rows, 4 * h, h, p[prefix + "fc2.weight"], p[prefix + "fc2.bias"]);
    }

    /// <summary>TimestepEmbedding: 256 sinusoidal features → Linear → SiLU → Linear.</summary>
    public static double[] TimeEmbed(float t, IReadOnlyDictionary<string, double[]> p, string prefix)
    {
        var f = TimestepEmbedding.SinusoidalFeatures([t]).Select(v => (double)v).ToArray();
        int cond = p[prefix + "fc2.bias"].Length;
        var u = ReferenceMath.Affine(f, 1, f.Length, cond, p[prefix + "fc1.weight"], p[prefix + "fc1.bias"]).Select(ReferenceMath.Silu).ToArray();
        return ReferenceMath.Affine(u, 1, cond, cond, p[prefix + "fc2.weight"], p[prefix + "fc2.bias"]);
    }

    private static double[] FinalLayer(double[] x, int rows, int h, int outDim, double[] c, IReadOnlyDictionary<string, double[]> p, string prefix)
    {
        var mod = ReferenceMath.Affine(c.Select(ReferenceMath.Silu).ToArray(), 1, c.Length, 2 * h, p[prefix + "modulation.weight"], p[prefix + "modulation.bias"]);
        var u = Modulate(LayerNorm(x, h), mod.AsSpan(0, h).ToArray(), mod.AsSpan(h, h).ToArray());
        return ReferenceMath.Affine(u, rows, h, outDim, p[prefix + "linear.weight"], p[prefix + "linear.bias"]);
    }

    /// <summary>The parameters under <paramref name="prefix"/>, with the prefix removed.</summary>
    private static Dictionary<string, double[]> Sub(IReadOnlyDictionary<string, double[]> p, string prefix) =>
        p.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);

    private static double[] LayerNorm(double[] x, int h)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / h; r++)
        {
            var row = x.AsSpan(r * h, h);
            double mean = 0, var = 0;
            foreach (double v in row)
            {
                mean += v / h;
            }
            foreach (double v in row)
            {
                var += (v - mean) * (v - mean) / h;
            }
            double rstd = 1 / Math.Sqrt(var + 1e-5);
            for (int i = 0; i < h; i++)
            {
                y[r * h + i] = (row[i] - mean) * rstd;
            }
        }
        return y;
    }

    private static double[] Modulate(double[] x, double[] shift, double[] scale) =>
        [.. x.Select((v, i) => v * (1 + scale[i % shift.Length]) + shift[i % shift.Length])];

    private static double[] GatedAdd(double[] residual, double[] gate, double[] x) =>
        [.. residual.Select((v, i) => v + gate[i % gate.Length] * x[i])];

}
