using System.Collections.Concurrent;

namespace Lddm.Training.Data;

/// <summary>
/// Gauss–Legendre quadrature on [−1, 1]: with m nodes, ∫₋₁¹ f = Σⱼ wⱼ f(ξⱼ) exactly for every polynomial f of
/// degree ≤ 2m − 1. Nodes are the roots of Pₘ found by Newton's method from Chebyshev guesses;
/// wⱼ = 2 / ((1 − ξⱼ²) Pₘ′(ξⱼ)²).
/// </summary>
public static class GaussLegendre
{
    private static readonly ConcurrentDictionary<int, (double[] Nodes, double[] Weights)> s_cache = new();

    /// <summary>The m nodes ξⱼ (ascending) and weights wⱼ; cached per m.</summary>
    public static (double[] Nodes, double[] Weights) Rule(int m)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(m, 1);
        return s_cache.GetOrAdd(m, Compute);
    }

    private static (double[] Nodes, double[] Weights) Compute(int m)
    {
        var nodes = new double[m];
        var weights = new double[m];
        for (int j = 0; j < (m + 1) / 2; j++)
        {
            double x = Math.Cos(Math.PI * (j + 0.75) / (m + 0.5));
            double derivative = 0;
            for (int iteration = 0; iteration < 100; iteration++)
            {
                (double p, double dp) = Legendre(m, x);
                derivative = dp;
                double dx = p / dp;
                x -= dx;
                if (Math.Abs(dx) <= 1e-16)
                {
                    break;
                }
            }
            derivative = Legendre(m, x).Derivative;
            double w = 2 / ((1 - x * x) * derivative * derivative);
            nodes[j] = -x;
            nodes[m - 1 - j] = x;
            weights[j] = w;
            weights[m - 1 - j] = w;
        }
        return (nodes, weights);
    }

    /// <summary>Pₘ(x) and Pₘ′(x) by the three-term recurrence (k+1)Pₖ₊₁ = (2k+1)xPₖ − kPₖ₋₁.</summary>
    private static (double Value, double Derivative) Legendre(int m, double x)
    {
        double p0 = 1, p1 = x;
        for (int k = 1; k < m; k++)
        {
            double p2 = ((2 * k + 1) * x * p1 - k * p0) / (k + 1);
            p0 = p1;
            p1 = p2;
        }
        if (m == 0)
        {
            return (1, 0);
        }
        return (p1, m * (x * p1 - p0) / (x * x - 1));
    }
}
