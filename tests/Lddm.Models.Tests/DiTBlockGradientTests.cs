using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Models.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Models.Tests;

/// <summary>
/// The whole <see cref="DiTBlock"/> against a float64 forward written from the maths: output, and the gradients of
/// x, c and every parameter against float64 central differences; then CpuBackend and the ILGPU simulator against
/// each other.
/// </summary>
public sealed class DiTBlockGradientTests(ITestOutputHelper output)
{
    private const int B = 2, T = 5, H = 8, Heads = 2, Cond = 8;

    /// <summary>One backend's forward output and gradients, keyed "y", "x", "c" and the parameter names.</summary>
    private sealed record BlockRun(Dictionary<string, float[]> Values, Dictionary<string, float[]> Grads);

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Block_gradients_match_float64_finite_differences(string backendName)
    {
        var rng = new Random(7);
        var x = Numerics.RandomFloats(rng, B * T * H);
        var c = Numerics.RandomFloats(rng, B * Cond);
        var w = Numerics.RandomFloats(rng, B * T * H);
        var run = Run(TestBackends.Get(backendName), x, c, w);

        var reference = new DiTBlockReference(B, T, H, Heads, Cond);
        var inputs = run.Values.Where(kv => kv.Key != "y").ToDictionary(kv => kv.Key, kv => kv.Value.Select(v => (double)v).ToArray());
        double[] Forward() => reference.Forward(inputs["x"], inputs["c"], inputs);
        Numerics.AssertClose(Forward(), run.Values["y"], 1e-4, $"DiTBlock forward on {backendName}");

        double worst = 0;
        foreach (var (name, values) in inputs)
        {
            var numeric = new double[values.Length];
            const double step = 1e-5;
            for (int j = 0; j < values.Length; j++)
            {
                double keep = values[j];
                values[j] = keep + step;
                double plus = ModelGradCheck.Dot(w, Forward());
                values[j] = keep - step;
                double minus = ModelGradCheck.Dot(w, Forward());
                values[j] = keep;
                numeric[j] = (plus - minus) / (2 * step);
            }
            worst = Math.Max(worst, ModelGradCheck.AssertGradClose(numeric, run.Grads[name], 2e-3, $"d/d {name} on {backendName}"));
        }
        output.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0}: max relative gradient error {1:E2}", backendName, worst));
    }

    [Fact]
    public void Cpu_and_ilgpu_blocks_agree()
    {
        var rng = new Random(11);
        var x = Numerics.RandomFloats(rng, B * T * H);
        var c = Numerics.RandomFloats(rng, B * Cond);
        var w = Numerics.RandomFloats(rng, B * T * H);
        var cpu = Run(TestBackends.Cpu, x, c, w);
        var gpu = Run(TestBackends.IlgpuCpu, x, c, w);
        double worst = ModelGradCheck.AssertGradClose(cpu.Values["y"].Select(v => (double)v).ToArray(), gpu.Values["y"], 1e-4, "output");
        foreach (var (name, g) in cpu.Grads)
        {
            worst = Math.Max(worst, ModelGradCheck.AssertGradClose(g.Select(v => (double)v).ToArray(), gpu.Grads[name], 1e-4, $"d/d {name}"));
        }
        output.WriteLine(string.Format(CultureInfo.InvariantCulture, "cpu vs ilgpu-cpu: max relative difference {0:E2}", worst));
    }

    [Fact]
    public void Fresh_block_is_the_identity()
    {
        var backend = TestBackends.Cpu;
        using var block = new DiTBlock(backend, new DiTBlockConfig(H, Heads, Cond));
        block.Initialize(3);
        using var tape = Tape.Begin();
        var x = Numerics.RandomFloats(new Random(1), B * T * H);
        var y = block.Forward(Tensor.FromArray(backend, x, B, T, H), Tensor.FromArray(backend, new float[B * Cond], B, Cond));
        Assert.Equal(x, y.ToArray());
    }

    /// <summary>
    /// Builds the block (seeded init, then a random modulation layer so the gates are non-zero), runs forward and
    /// backward with upstream gradient w, and reads back every value and gradient.
    /// </summary>
    private static BlockRun Run(Backend backend, float[] x, float[] c, float[] w)
    {
        using var block = new DiTBlock(backend, new DiTBlockConfig(H, Heads, Cond));
        block.Initialize(5);
        var rng = new Random(13);
        block.Modulation.Weight.Load(Numerics.RandomFloats(rng, Cond * 6 * H, 0.5f));
        block.Modulation.Bias!.Load(Numerics.RandomFloats(rng, 6 * H, 0.5f));
        block.Mlp.Fc1.Bias!.Load(Numerics.RandomFloats(rng, 4 * H, 0.3f));
        block.Mlp.Fc2.Bias!.Load(Numerics.RandomFloats(rng, H, 0.3f));

        using var tape = Tape.Begin();
        var xt = Tensor.FromArray(backend, x, B, T, H);
        var ct = Tensor.FromArray(backend, c, B, Cond);
        xt.RequiresGrad = ct.RequiresGrad = true;
        var y = block.Forward(xt, ct);
        y.Backward(w);

        var values = new Dictionary<string, float[]> { ["y"] = y.ToArray(), ["x"] = x, ["c"] = c };
        var grads = new Dictionary<string, float[]> { ["x"] = xt.Grad!.ToArray(), ["c"] = ct.Grad!.ToArray() };
        foreach (var (name, p) in block.NamedParameters())
        {
            values[name] = p.ToArray();
            grads[name] = p.Grad?.ToArray() ?? new float[p.Shape.Elements];
        }
        block.ZeroGrad();
        return new BlockRun(values, grads);
    }
}
