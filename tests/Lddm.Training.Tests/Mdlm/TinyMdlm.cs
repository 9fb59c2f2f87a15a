using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models;
using Lddm.Training.Data;
using Lddm.Training.Mdlm;

namespace Lddm.Training.Tests.Mdlm;

/// <summary>A tiny DiT with every parameter random (the zero-initialised adaLN gates and head would give flat logits).</summary>
internal static class TinyMdlm
{
    /// <summary>h = 16, 1 block, 2 heads, cond 8, vocabulary K + 1, every parameter uniform in ±<paramref name="scale"/>.</summary>
    public static DiT Create(Backend backend, int k, int maxLength, int seed, float scale = 0.5f)
    {
        var model = new DiT(backend, new DiTConfig(16, 1, 2, 8, Vocab: k + 1, MaxLength: maxLength));
        model.Initialize((ulong)seed);
        var rng = new Random(seed);
        foreach (var p in model.Parameters())
        {
            p.Load(Numerics.RandomFloats(rng, p.Shape.Elements, scale));
        }
        model.Eval();
        return model;
    }

    /// <summary>The model's logits (B, L, K+1) as float64, read under Grad.Off with the given per-sequence times.</summary>
    public static double[] Logits(DiT model, int[] tokens, int batch, int length, float[] t)
    {
        using var tape = Tape.Begin();
        using var off = Grad.Off();
        var x = IntTensor.FromArray(model.Backend, tokens, batch, length);
        return [.. model.Forward(x, t).ToArray().Select(v => (double)v)];
    }

    /// <summary>−log softmax over the K real columns of row <paramref name="row"/>, at column <paramref name="target"/> (float64).</summary>
    public static double CrossEntropy(double[] logits, int row, int vocab, int target)
    {
        int k = vocab - 1;
        var z = logits.AsSpan(row * vocab, k);
        double max = double.NegativeInfinity;
        foreach (double v in z)
        {
            max = Math.Max(max, v);
        }
        double sum = 0;
        foreach (double v in z)
        {
            sum += Math.Exp(v - max);
        }
        return max + Math.Log(sum) - z[target];
    }

    /// <summary>
    /// (exact NELBO per token, exact unweighted masked CE per token) of one sequence x under a model without time input:
    /// (1/(1−ε)) ∫_ε^1 w(t) Σ_masks P(mask | t) Σ_{i masked} −log p_θ(xⁱ | x_t) dt / L with t ~ U[ε, 1) as the objective
    /// draws it; one forward per mask pattern (2^L), and the integrand is a polynomial in t of degree ≤ L, so 8-node
    /// Gauss–Legendre is exact.
    /// </summary>
    public static (double Nelbo, double Ce) ExactNelbo(DiT model, MdlmObjective objective, int[] x, int k)
    {
        int l = x.Length, patterns = 1 << l;
        var noisy = new int[patterns * l];
        for (int m = 0; m < patterns; m++)
        {
            for (int i = 0; i < l; i++)
            {
                noisy[m * l + i] = (m >> i & 1) == 1 ? k : x[i];
            }
        }
        var logits = Logits(model, noisy, patterns, l, new float[patterns]);
        var ce = new double[patterns]; // Σ over masked positions of −log p(x₀ⁱ | pattern)
        for (int m = 0; m < patterns; m++)
        {
            for (int i = 0; i < l; i++)
            {
                ce[m] += (m >> i & 1) == 1 ? CrossEntropy(logits, m * l + i, k + 1, x[i]) : 0;
            }
        }
        double eps = objective.Times.Epsilon;
        var (nodes, weights) = GaussLegendre.Rule(8);
        double nelbo = 0, plain = 0;
        for (int j = 0; j < nodes.Length; j++)
        {
            double t = eps + (1 - eps) * (nodes[j] + 1) / 2, dt = (1 - eps) / 2 * weights[j];
            double q = 1 - objective.Schedule.Alpha(t), inner = 0;
            for (int m = 0; m < patterns; m++)
            {
                int masked = System.Numerics.BitOperations.PopCount((uint)m);
                inner += Math.Pow(q, masked) * Math.Pow(1 - q, l - masked) * ce[m];
            }
            nelbo += dt * objective.Schedule.NelboWeight(t) * inner;
            plain += dt * inner;
        }
        return (nelbo / (1 - eps) / l, plain / (1 - eps) / l);
    }
}
