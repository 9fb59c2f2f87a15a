namespace Lddm.Kernels.Reference;

/// <summary>Slow, obviously correct float64 versions of the bias + activation kernels.</summary>
public static class ActivationReference
{
    private static readonly double s_geluC = Math.Sqrt(2 / Math.PI);
    private const double GeluA = 0.044715;

    /// <summary>act(u) in float64, written exactly as the formulas in <see cref="Activation"/>.</summary>
    public static double Apply(Activation act, double u) => act switch
    {
        Activation.Identity => u,
        Activation.GeluTanh => 0.5 * u * (1 + Math.Tanh(s_geluC * (u + GeluA * u * u * u))),
        Activation.Silu => u / (1 + Math.Exp(-u)),
        _ => throw new ArgumentOutOfRangeException(nameof(act)),
    };

    /// <summary>act′(u) in float64 (the derivative of <see cref="Apply"/>, proven by finite differences in the tests).</summary>
    public static double Derivative(Activation act, double u)
    {
        switch (act)
        {
            case Activation.Identity:
                return 1;
            case Activation.GeluTanh:
                double t = Math.Tanh(s_geluC * (u + GeluA * u * u * u));
                return 0.5 * (1 + t) + 0.5 * u * (1 - t * t) * s_geluC * (1 + 3 * GeluA * u * u);
            case Activation.Silu:
                double s = 1 / (1 + Math.Exp(-u));
                return s * (1 + u * (1 - s));
            default:
                throw new ArgumentOutOfRangeException(nameof(act));
        }
    }

    /// <summary>y = act(x + bias) over (rows, cols); bias (cols) may be null.</summary>
    public static double[] Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> bias, int rows, int cols, Activation act)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                double u = (double)x[r * cols + c] + (bias.IsEmpty ? 0 : bias[c]);
                y[r * cols + c] = Apply(act, u);
            }
        }
        return y;
    }

    /// <summary>
    /// Returns (dx0 + dy·act′(u), dbias0 + Σ_r dy·act′(u)); <paramref name="dbias0"/> empty gives an empty dbias.
    /// </summary>
    public static (double[] Dx, double[] Dbias) Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> bias,
        ReadOnlySpan<float> dy, int rows, int cols, Activation act, ReadOnlySpan<float> dx0, ReadOnlySpan<float> dbias0)
    {
        var dx = new double[rows * cols];
        var dbias = new double[dbias0.Length];
        for (int c = 0; c < dbias.Length; c++)
        {
            dbias[c] = dbias0[c];
        }
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                double g = dy[i] * Derivative(act, (double)x[i] + (bias.IsEmpty ? 0 : bias[c]));
                dx[i] = dx0[i] + g;
                if (!dbias.AsSpan().IsEmpty)
                {
                    dbias[c] += g;
                }
            }
        }
        return (dx, dbias);
    }
}
