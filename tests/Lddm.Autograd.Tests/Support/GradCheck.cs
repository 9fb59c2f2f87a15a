using System.Globalization;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Xunit.Sdk;

namespace Lddm.Autograd.Tests.Support;

/// <summary>Marks a test as the finite-difference gradient check of an op class (the registry test reads it).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class GradCheckOfAttribute(Type op) : Attribute
{
    public Type Op { get; } = op;
}

/// <summary>
/// Checks an autograd op on a backend against a float64 reference: the forward output, and every input gradient
/// against float64 central differences of the reference forward for a random upstream gradient w
/// (∂(w·f(x))/∂x_j ≈ [w·f(x + h e_j) − w·f(x − h e_j)] / 2h).
/// </summary>
public static class GradCheck
{
    /// <summary>
    /// <paramref name="apply"/> runs the op on tensors made from <paramref name="inputs"/>;
    /// <paramref name="reference"/> computes the same function in float64. Returns the worst relative gradient error.
    /// </summary>
    public static double Run(Backend backend, string op, int seed, float[][] inputs, int[][] shapes,
        Func<Tensor[], Tensor> apply, Func<double[][], double[]> reference, double forwardTol = 1e-4,
        double gradTol = 2e-3, bool[]? differentiable = null)
    {
        // A stream of its own: tests build inputs from `seed`, and w ∝ x can make a true gradient vanish.
        var rng = new Random(seed ^ 0x5BD1E995);
        string context = $"{op} on {backend.Name}, seed {seed}, shapes {string.Join(" ", shapes.Select(s => "(" + string.Join(",", s) + ")"))}";
        using var tape = Tape.Begin();
        var tensors = new Tensor[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            tensors[i] = Tensor.FromArray(backend, inputs[i], shapes[i]);
            tensors[i].RequiresGrad = differentiable?[i] ?? true;
        }
        var y = apply(tensors);
        var x64 = inputs.Select(a => a.Select(v => (double)v).ToArray()).ToArray();
        var expected = reference(x64);
        Numerics.AssertClose(expected, y.ToArray(), forwardTol, $"{context}: forward");
        var w = Numerics.RandomFloats(rng, y.Shape.Elements);
        y.Backward(w);

        double worst = 0;
        const double h = 1e-5;
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!(differentiable?[i] ?? true))
            {
                continue;
            }
            var analytic = tensors[i].Grad?.ToArray() ?? new float[inputs[i].Length];
            var numeric = new double[inputs[i].Length];
            for (int j = 0; j < numeric.Length; j++)
            {
                double keep = x64[i][j];
                x64[i][j] = keep + h;
                double plus = Dot(w, reference(x64));
                x64[i][j] = keep - h;
                double minus = Dot(w, reference(x64));
                x64[i][j] = keep;
                numeric[j] = (plus - minus) / (2 * h);
            }
            double scale = 1e-3 + numeric.Select(Math.Abs).DefaultIfEmpty(0).Max();
            for (int j = 0; j < numeric.Length; j++)
            {
                double err = Math.Abs(analytic[j] - numeric[j]) / scale;
                worst = Math.Max(worst, err);
                if (!(err <= gradTol))
                {
                    throw new XunitException(string.Format(CultureInfo.InvariantCulture,
                        "{0}: d/d input {1} [{2}]: analytic {3:R}, finite difference {4:R} (error {5:E2} of max |grad| {6:E2}).",
                        context, i, j, analytic[j], numeric[j], err, scale));
                }
            }
        }
        return worst;
    }

    private static double Dot(float[] w, double[] y)
    {
        double s = 0;
        for (int i = 0; i < y.Length; i++)
        {
            s += w[i] * y[i];
        }
        return s;
    }
}
