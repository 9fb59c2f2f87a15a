using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Xunit.Sdk;

namespace Lddm.Models.Tests.Support;

/// <summary>
/// A whole network against its float64 reference: the forward output, then the gradient of w·f (w random) with
/// respect to a float input and to every parameter against float64 central differences of the reference.
/// Every parameter must receive a non-zero gradient; per tensor the largest-gradient entries and a random sample
/// are differenced (the whole tensor when it is small), so a large model stays affordable.
/// </summary>
public static class ModelGradCheck
{
    /// <summary>The key under which <paramref name="reference"/> finds the float input.</summary>
    public const string Input = "input";

    /// <summary>Returns the worst relative gradient error |analytic − numeric| / (1e-3 + max|analytic of that tensor|).</summary>
    public static double Run(Backend backend, Module model, float[] input, int[] inputShape, Func<Tensor, Tensor> forward,
        Func<IReadOnlyDictionary<string, double[]>, double[]> reference, int seed, string context, int entriesPerTensor = 16,
        double forwardTol = 2e-4, double gradTol = 3e-3)
    {
        var rng = new Random(seed);
        var values = new Dictionary<string, double[]> { [Input] = [.. input.Select(v => (double)v)] };
        foreach (var (name, p) in model.NamedParameters())
        {
            values[name] = [.. p.ToArray().Select(v => (double)v)];
        }
        var grads = new Dictionary<string, float[]>();
        float[] w;
        using (var tape = Tape.Begin())
        {
            var x = Tensor.FromArray(backend, input, inputShape);
            x.RequiresGrad = true;
            var y = forward(x);
            Numerics.AssertClose(reference(values), y.ToArray(), forwardTol, $"{context}: forward");
            w = Numerics.RandomFloats(rng, y.Shape.Elements);
            y.Backward(w);
            grads[Input] = x.Grad?.ToArray() ?? new float[input.Length];
            foreach (var (name, p) in model.NamedParameters())
            {
                grads[name] = p.Grad?.ToArray() ?? new float[p.Shape.Elements];
            }
        }
        model.ZeroGrad();

        double worst = 0;
        const double h = 1e-5;
        foreach (var (name, v) in values)
        {
            var analytic = grads[name];
            double scale = analytic.Max(MathF.Abs);
            if (!(scale > 0))
            {
                throw new XunitException($"{context}: no gradient reaches '{name}'.");
            }
            var order = Enumerable.Range(0, v.Length).OrderByDescending(j => MathF.Abs(analytic[j])).ToArray();
            var chosen = v.Length <= entriesPerTensor
                ? order
                : order.Take(entriesPerTensor / 2).Concat(Enumerable.Range(0, entriesPerTensor / 2).Select(_ => rng.Next(v.Length))).Distinct();
            foreach (int j in chosen)
            {
                double keep = v[j];
                v[j] = keep + h;
                double plus = Dot(w, reference(values));
                v[j] = keep - h;
                double minus = Dot(w, reference(values));
                v[j] = keep;
                double numeric = (plus - minus) / (2 * h);
                double err = Math.Abs(analytic[j] - numeric) / (1e-3 + scale);
                if (!(err <= gradTol))
                {
                    throw new XunitException(string.Format(CultureInfo.InvariantCulture,
                        "{0}: d/d {1} [{2}]: analytic {3:R}, finite difference {4:R} (error {5:E2} of max |grad| {6:E2}).",
                        context, name, j, analytic[j], numeric, err, scale));
                }
                worst = Math.Max(worst, err);
            }
        }
        return worst;
    }

    /// <summary>
    /// Replaces every parameter that is all zeros after <see cref="Module.Initialize"/> (the adaLN-zero modulations,
    /// zero-init heads and biases) with uniform values in ±<paramref name="scale"/>, so every path carries signal.
    /// </summary>
    public static void RandomizeZeroInit(Module model, int seed, float scale = 0.5f)
    {
        var rng = new Random(seed);
        foreach (var (_, p) in model.NamedParameters())
        {
            if (p.ToArray().All(v => v == 0f))
            {
                p.Load(Numerics.RandomFloats(rng, p.Shape.Elements, scale));
            }
        }
    }

    /// <summary>max_j |actual − expected| / (1e-3 + max|expected|) ≤ tol, as GradCheck measures; returns the max.</summary>
    public static double AssertGradClose(double[] expected, float[] actual, double tol, string context)
    {
        double scale = 1e-3 + expected.Select(Math.Abs).DefaultIfEmpty(0).Max(), worst = 0;
        for (int j = 0; j < expected.Length; j++)
        {
            double err = Math.Abs(actual[j] - expected[j]) / scale;
            if (!(err <= tol))
            {
                throw new XunitException(string.Format(CultureInfo.InvariantCulture,
                    "{0} [{1}]: expected {2:R}, got {3:R} (error {4:E2} of max |value| {5:E2}).", context, j, expected[j], actual[j], err, scale));
            }
            worst = Math.Max(worst, err);
        }
        return worst;
    }

    /// <summary>w·y in float64: the scalar whose gradient the checks difference.</summary>
    public static double Dot(float[] w, double[] y)
    {
        double s = 0;
        for (int i = 0; i < y.Length; i++)
        {
            s += w[i] * y[i];
        }
        return s;
    }
}
