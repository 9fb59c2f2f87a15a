using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models;

namespace Lddm.Training.Tests.Objectives;

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
}
