using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models;
using Lddm.Training.Diffusion;
using Lddm.Training.Engine;
using Lddm.Training.Runs;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Training.Tests.Fuji;

/// <summary>Tiny FUJI/SEQ networks (h = 16, one block) and the finite-difference gradient check both test classes use.</summary>
internal static class FujiTestModels
{
    public const int K = 3, L = 8, P = 2, D = 4;

    /// <summary>An LDDM config over K tokens, L = 8, P = 2, d = 4, no dropout.</summary>
    public static TrainConfig Config(string model, params string[] overrides) =>
        new TrainConfig { Model = model, Length = L, LatentPatches = P, LatentDim = D, Seed = 5 }
            .WithOverrides(overrides).Validate();

    public static MmDiTConfig Denoiser(int length = L) => new(16, 1, 2, 8, K + 1, length, P, D);

    public static DiTEncoderConfig Encoder(int length = L) => new(16, 1, 2, 8, K + 1, length, P, D);

    public static LatentDiTConfig Prior() => new(16, 1, 2, 8, P, D);

    /// <summary>Every parameter uniform in ±<paramref name="scale"/>, so the zero-initialised gates and heads pass gradients.</summary>
    public static void Randomize(Module network, int seed, float scale = 0.4f)
    {
        var rng = new Random(seed);
        foreach (var p in network.Parameters())
        {
            p.Load(Numerics.RandomFloats(rng, p.Shape.Elements, scale));
        }
    }

    public static int[] Tokens(Random rng, int n) => [.. Enumerable.Range(0, n).Select(_ => rng.Next(K))];

    /// <summary>The loss of (seed, step) in a fresh tape.</summary>
    public static double LossValue(ITrainableModel model, int[] x0, int batch, ulong seed, long step)
    {
        using var tape = Tape.Begin();
        return model.Loss(x0, batch, x0.Length / batch, seed, step, null).Value.Item();
    }

    /// <summary>
    /// Back-propagates the loss of (seed, step) once, then for each group (a name prefix) checks that every parameter in
    /// it received a non-zero gradient and that the two largest-gradient coordinates of its largest-gradient parameter
    /// match central differences of the float32 loss (h = 10⁻², 3 % + 10⁻³). Returns the gradient norm per parameter.
    /// </summary>
    public static Dictionary<string, double> CheckGradients(ITrainableModel model, int[] x0, int batch, ulong seed, long step,
        IReadOnlyList<string> groups, ITestOutputHelper output)
    {
        var norms = new Dictionary<string, double>();
        var grads = new Dictionary<string, float[]>();
        model.Network.ZeroGrad();
        using (var tape = Tape.Begin())
        {
            var loss = model.Loss(x0, batch, x0.Length / batch, seed, step, null);
            loss.Value.Backward();
            foreach (var (name, p) in model.Network.NamedParameters())
            {
                var g = p.Grad?.ToArray() ?? new float[p.Shape.Elements];
                grads[name] = g;
                norms[name] = Math.Sqrt(g.Sum(v => (double)v * v));
            }
        }
        model.Network.ZeroGrad();
        foreach (string group in groups)
        {
            var members = norms.Keys.Where(n => n.StartsWith(group, StringComparison.Ordinal)).ToList();
            Assert.True(members.Count > 0, $"no parameter named {group}*");
            foreach (string name in members)
            {
                Assert.True(norms[name] > 0, $"{name} received no gradient.");
            }
            string top = members.OrderByDescending(n => norms[n]).First();
            var parameter = model.Network.NamedParameters().Single(np => np.Name == top).Parameter;
            var g = grads[top];
            foreach (int j in Enumerable.Range(0, g.Length).OrderByDescending(j => Math.Abs(g[j])).Take(2))
            {
                double numeric = CentralDifference(model, parameter, j, x0, batch, seed, step);
                output.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0}[{1}]: analytic {2:E4}, numeric {3:E4}", top, j, g[j], numeric));
                Assert.True(Math.Abs(numeric - g[j]) <= 0.03 * Math.Abs(g[j]) + 1e-3,
                    $"{top}[{j}]: analytic {g[j]} vs central difference {numeric}.");
            }
        }
        return norms;
    }

    private static double CentralDifference(ITrainableModel model, Parameter p, int j, int[] x0, int batch, ulong seed, long step)
    {
        const float h = 1e-2f;
        var values = p.ToArray();
        float keep = values[j];
        values[j] = keep + h;
        p.Load(values);
        double plus = LossValue(model, x0, batch, seed, step);
        values[j] = keep - h;
        p.Load(values);
        double minus = LossValue(model, x0, batch, seed, step);
        values[j] = keep;
        p.Load(values);
        return (plus - minus) / (2.0 * h);
    }

    /// <summary>A float64 DDIM/DDPM step from the chain's coefficients (the reference for the sampler's latent update).</summary>
    public static double[] LatentStep(LatentChain chain, bool ddpm, float[] y, float[] y0Hat, double t, double s, ulong seed, int k)
    {
        var next = new double[y.Length];
        if (ddpm)
        {
            var c = chain.Ddpm(t, s);
            for (int i = 0; i < y.Length; i++)
            {
                // z element i of the k-th step: Philox normal at k·count·D + i, as FillNormal would draw it.
                double z = Philox.Normal(seed, LatentSampling.StepStream, (long)k * y.Length + i);
                next[i] = (float)c.CoefYt * y[i] + (float)c.CoefY0 * y0Hat[i] + (float)c.Sigma * z;
            }
        }
        else
        {
            var c = chain.Ddim(t, s);
            for (int i = 0; i < y.Length; i++)
            {
                next[i] = c.AbarS * y0Hat[i] + c.SbarS * (y[i] - c.AbarT * y0Hat[i]) / c.SbarT;
            }
        }
        return next;
    }
}
