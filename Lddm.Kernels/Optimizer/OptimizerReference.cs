namespace Lddm.Kernels.Reference;

/// <summary>Slow, obviously correct float64 versions of the optimizer kernels (tests and benchmarks).</summary>
public static class OptimizerReference
{
    /// <summary>One AdamW step in place, in torch.optim.AdamW's order (decay first, then the Adam update).</summary>
    public static void AdamWStep(double[] param, ReadOnlySpan<float> grad, double[] m, double[] v, AdamWParameters p)
    {
        double b1 = p.Beta1, b2 = p.Beta2, lr = p.LearningRate;
        double bc1 = 1 - Math.Pow(b1, p.Step), bc2 = 1 - Math.Pow(b2, p.Step);
        for (int i = 0; i < param.Length; i++)
        {
            double g = grad[i];
            param[i] *= 1 - lr * p.WeightDecay;
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double mHat = m[i] / bc1, vHat = v[i] / bc2;
            param[i] -= lr * mHat / (Math.Sqrt(vHat) + p.Epsilon);
        }
    }

    public static double[] Ema(ReadOnlySpan<float> ema, ReadOnlySpan<float> param, double decay)
    {
        var result = new double[ema.Length];
        for (int i = 0; i < ema.Length; i++)
        {
            result[i] = decay * ema[i] + (1 - decay) * param[i];
        }
        return result;
    }

    public static double GradNormSquared(IEnumerable<float[]> grads)
    {
        double s = 0;
        foreach (var g in grads)
        {
            foreach (float x in g)
            {
                s += (double)x * x;
            }
        }
        return s;
    }

    public static double[] ClipByNorm(ReadOnlySpan<float> grad, double normSquared, double maxNorm)
    {
        double c = Math.Min(1, maxNorm / (Math.Sqrt(normSquared) + 1e-6));
        var result = new double[grad.Length];
        for (int i = 0; i < grad.Length; i++)
        {
            result[i] = grad[i] * c;
        }
        return result;
    }
}
