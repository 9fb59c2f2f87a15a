using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Data;
using Lddm.Training.DiLadd;
using Lddm.Training.Tests.Fuji;
using Xunit;
using Xunit.Abstractions;
using static Lddm.Training.Tests.DiLadd.DiLaddTestModels;

namespace Lddm.Training.Tests.DiLadd;

public sealed class DiLaddTests(ITestOutputHelper output)
{
    private static TableEncoder Encoder(Backend backend, int length = L, int patches = P, int rows = 9, ulong seed = 11) =>
        new(backend, K, rows, patches, D, seed);

    /// <summary>
    /// The code chain's NELBO is unbiased. For one x₀ (L = 2, P = 2, C = 3) with the network's time embeddings zeroed
    /// (so it reads neither t_x, which MDLM never feeds, nor t_y) the latent term per code is exactly
    /// (1/P) ∫∫ w_y(t_y) Σ_{code masks} P(m_y | t_y) Σ_{token masks} P(m_x | t_x) CE(m_x, m_y) dt_x dt_y / ((1 − ε_x)(1 − ε_y))
    /// over t_x ~ U[ε_x, 1), t_y ~ U[ε_y, 1) independent; each of the 2^L · 2^P mask patterns needs one forward and the
    /// integrands are polynomials (Gauss–Legendre with 8 nodes is exact). The Monte-Carlo mean of the reported latent
    /// term (× L/P) and of the code loss must lie within 3 SE of it, with ELBO weights and, for the loss, without them.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CodeChainNelboMatchesExactEnumeration(bool elbo)
    {
        const int l = 2, p = 2, c = 3, batch = 8, draws = 1200;
        var backend = TestBackends.Cpu;
        using var model = Create(backend, Options(codes: c, elbo: elbo), Encoder(backend, l, p, rows: 5), length: l, seed: 21);
        foreach (var (name, param) in model.Denoiser.NamedParameters().Where(np => np.Name.StartsWith("time_", StringComparison.Ordinal)))
        {
            param.Data.Fill(0f); // the network no longer reads t_x or t_y
        }
        model.Network.Eval(); // the codebook stays put, so y₀ = VQ(E(x₀)) is fixed
        int[] x = [1, 2];
        var y0 = model.Encode(x, 1, l);
        output.WriteLine($"codes of x₀: [{string.Join(", ", y0)}]");

        // Every (token mask, code mask) pattern in one forward: CE summed over the masked codes (SUBS: the MASK logit is out).
        int tokenPatterns = 1 << l, codePatterns = 1 << p, rows = tokenPatterns * codePatterns;
        var tokens = new int[rows * l];
        var codes = new int[rows * p];
        for (int mx = 0; mx < tokenPatterns; mx++)
        {
            for (int my = 0; my < codePatterns; my++)
            {
                int r = mx * codePatterns + my;
                for (int i = 0; i < l; i++)
                {
                    tokens[r * l + i] = (mx >> i & 1) == 1 ? K : x[i];
                }
                for (int i = 0; i < p; i++)
                {
                    codes[r * p + i] = (my >> i & 1) == 1 ? c : y0[i];
                }
            }
        }
        double[] head;
        using (Grad.Off())
        using (Tape.Begin())
        {
            head = model.Denoiser.Forward(IntTensor.FromArray(backend, tokens, rows, l), IntTensor.FromArray(backend, codes, rows, p),
                new float[rows], new float[rows]).Latent.ToArray().Select(v => (double)v).ToArray();
        }
        var ce = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < p; i++)
            {
                if (codes[r * p + i] == c)
                {
                    ce[r] += CrossEntropy(head, (r * p + i) * (c + 1), c, y0[i]);
                }
            }
        }
        var tokenChain = model.Objective.Tokens;
        var codeChain = model.Objective.Codes;
        var (nodes, weights) = GaussLegendre.Rule(8);
        double ex = tokenChain.Times.Epsilon, ey = codeChain.Times.Epsilon, nelbo = 0, plain = 0;
        for (int a = 0; a < nodes.Length; a++)
        {
            double ty = ey + (1 - ey) * (nodes[a] + 1) / 2, dty = (1 - ey) / 2 * weights[a] / (1 - ey);
            double qy = 1 - codeChain.Schedule.Alpha(ty);
            for (int b = 0; b < nodes.Length; b++)
            {
                double tx = ex + (1 - ex) * (nodes[b] + 1) / 2, dtx = (1 - ex) / 2 * weights[b] / (1 - ex);
                double qx = 1 - tokenChain.Schedule.Alpha(tx), inner = 0;
                for (int mx = 0; mx < tokenPatterns; mx++)
                {
                    int nx = System.Numerics.BitOperations.PopCount((uint)mx);
                    double px = Math.Pow(qx, nx) * Math.Pow(1 - qx, l - nx);
                    for (int my = 0; my < codePatterns; my++)
                    {
                        int ny = System.Numerics.BitOperations.PopCount((uint)my);
                        inner += px * Math.Pow(qy, ny) * Math.Pow(1 - qy, p - ny) * ce[mx * codePatterns + my];
                    }
                }
                nelbo += dty * dtx * codeChain.Schedule.NelboWeight(ty) * inner;
                plain += dty * dtx * inner;
            }
        }
        nelbo /= p;
        plain /= p;

        var x0 = Enumerable.Range(0, batch).SelectMany(_ => x).ToArray();
        var reported = new double[draws];
        var loss = new double[draws];
        for (int d = 0; d < draws; d++)
        {
            using var tape = Tape.Begin();
            var result = (DiLaddLoss)model.Loss(x0, batch, l, seed: 99, step: d, dropout: null);
            reported[d] = result.Terms()[1].NatsPerToken * l / p;
            loss[d] = result.Codes!.Value.Item();
        }
        AssertWithin3Se("reported latent NELBO per code", reported, nelbo);
        AssertWithin3Se(elbo ? "code loss (NELBO weights)" : "code loss (unweighted CE)", loss, elbo ? nelbo : plain);
    }

    /// <summary>−log softmax over the first <paramref name="real"/> entries of the row at <paramref name="offset"/>.</summary>
    private static double CrossEntropy(double[] logits, int offset, int real, int target)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < real; j++)
        {
            max = Math.Max(max, logits[offset + j]);
        }
        double sum = 0;
        for (int j = 0; j < real; j++)
        {
            sum += Math.Exp(logits[offset + j] - max);
        }
        return -(logits[offset + target] - max - Math.Log(sum));
    }

    private void AssertWithin3Se(string what, double[] samples, double exact)
    {
        double mean = samples.Average();
        double se = Math.Sqrt(samples.Sum(v => (v - mean) * (v - mean)) / (samples.Length - 1) / samples.Length);
        output.WriteLine($"{what}: MC mean {mean:F5} ± {se:F5} (SE), exact {exact:F5}, |Δ|/SE = {Math.Abs(mean - exact) / se:F2}");
        Assert.True(se > 0, $"{what}: the estimator did not vary");
        Assert.True(Math.Abs(mean - exact) < 3 * se, $"{what}: MC mean {mean} ± {se} vs exact {exact}.");
    }

    /// <summary>
    /// Joint and sequential sampling leave no MASK token and no MASK code for any N and N_lat (N = 1 included), cost
    /// what they say (joint: N, or N + 1 with a final fill; sequential: N_lat + the token chain's calls ≤ N + 1).
    /// </summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 3)]
    [InlineData(5, 2)]
    public void SamplingLeavesNoMask(int steps, int latentSteps)
    {
        var backend = TestBackends.Cpu;
        using var model = Create(backend, Options(), Encoder(backend));
        model.Network.Eval();
        const int count = 4;
        for (ulong seed = 1; seed <= 3; seed++)
        {
            var joint = model.Sampler.Run(model.Denoiser, count, L, steps, seed, temperature: 1.3f);
            var sequential = model.Sampler.RunSequential(model.Denoiser, count, L, steps, latentSteps, seed, temperature: 1.3f);
            foreach (var (run, name) in new[] { (joint, "joint"), (sequential, "sequential") })
            {
                Assert.Equal(count * L, run.Tokens.Length);
                Assert.Equal(count * P, run.Codes.Length);
                Assert.All(run.Tokens, v => Assert.InRange(v, 0, K - 1));
                Assert.All(run.Codes, v => Assert.InRange(v, 0, C - 1));
                output.WriteLine($"{name} N = {steps}, N_lat = {latentSteps}, seed {seed}: NFE {run.Nfe}, codes [{string.Join(",", run.Codes)}]");
            }
            Assert.InRange(joint.Nfe, steps, steps + 1);
            Assert.InRange(sequential.Nfe, latentSteps + 1, latentSteps + steps + 1);
        }
    }

    /// <summary>
    /// The same seed draws the same tokens and codes on the CPU and on ILGPU's CPU simulator, for both samplers; on the
    /// CPU the same seed again draws them again and another seed draws other ones.
    /// </summary>
    [Fact]
    public void SameSeedGivesTheSameCodesOnBothBackends()
    {
        const int count = 2, steps = 3, latentSteps = 2;
        var runs = TestBackends.All.Select(backend =>
        {
            using var model = Create(backend, Options(), Encoder(backend));
            model.Network.Eval();
            var joint = model.Sampler.Run(model.Denoiser, count, L, steps, seed: 42, temperature: 0.9f);
            var sequential = model.Sampler.RunSequential(model.Denoiser, count, L, steps, latentSteps, seed: 42, temperature: 0.9f);
            return (joint, sequential);
        }).ToArray();
        Assert.Equal(runs[0].joint.Codes, runs[1].joint.Codes);
        Assert.Equal(runs[0].joint.Tokens, runs[1].joint.Tokens);
        Assert.Equal(runs[0].sequential.Codes, runs[1].sequential.Codes);
        Assert.Equal(runs[0].sequential.Tokens, runs[1].sequential.Tokens);

        using var cpu = Create(TestBackends.Cpu, Options(), Encoder(TestBackends.Cpu));
        cpu.Network.Eval();
        cpu.UseSequentialSampling(latentSteps);
        var again = cpu.Sample(count, L, steps, seed: 42, temperature: 0.9f);
        Assert.Equal(runs[0].sequential.Codes, again.Codes);
        Assert.Equal(runs[0].sequential.Tokens, again.Tokens);
        bool differs = Enumerable.Range(43, 3).Any(s =>
        {
            var other = cpu.Sample(count, L, steps, seed: (ulong)s, temperature: 0.9f);
            return !other.Codes.SequenceEqual(again.Codes) || !other.Tokens.SequenceEqual(again.Tokens);
        });
        Assert.True(differs, "other seeds drew the same samples");
    }

    /// <summary>
    /// The code index cuts the graph: after Backward of the full loss (token + code terms + β·commitment), the frozen
    /// encoder's table — looked up on the tape — has no gradient, while the MM-DiT's latent embedding, both heads and
    /// the token stream have one; the encoder and the quantiser's state are not trainable parameters.
    /// </summary>
    [Fact]
    public void NoGradientReachesTheEncoder()
    {
        var backend = TestBackends.Cpu;
        var encoder = Encoder(backend);
        using var model = Create(backend, Options(), encoder);
        var x0 = FujiTestModels.Tokens(new Random(5), 4 * L);
        using (var tape = Tape.Begin())
        {
            var loss = (DiLaddLoss)model.Loss(x0, 4, L, seed: 3, step: 1, dropout: null);
            Assert.NotNull(loss.Codes);
            loss.Value.Backward();
        }
        Assert.True(encoder.Table.Grad is null || encoder.Table.Grad.ToArray().All(v => v == 0f), "a gradient reached the frozen encoder");
        foreach (string group in new[] { "denoiser.latent_embed.", "denoiser.final_x.", "denoiser.final_y.", "denoiser.embed.", "denoiser.time_y." })
        {
            var members = model.TrainableParameters.Where(np => np.Name.StartsWith(group, StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(members);
            Assert.Contains(members, np => np.Parameter.Grad is { } g && g.ToArray().Any(v => v != 0f));
        }
        Assert.DoesNotContain(model.TrainableParameters, np => np.Name.StartsWith("quantizer.", StringComparison.Ordinal));
        Assert.DoesNotContain(model.Network.Parameters(), p => ReferenceEquals(p, encoder.Table));
        Assert.All(model.Quantizer.NamedState(), s => Assert.True(s.Tensor.Grad is null || s.Tensor.Grad.ToArray().All(v => v == 0f), $"{s.Name} got a gradient"));
        model.Network.ZeroGrad();
    }

    /// <summary>
    /// Stage 1 trains neither the latent head nor the quantiser state and has no latent term; stage 2 has one. In training
    /// mode each loss call moves the codebook (one EMA update); in eval mode it does not.
    /// </summary>
    [Fact]
    public void StagesAndCodebookUpdates()
    {
        var backend = TestBackends.Cpu;
        using var stage1 = Create(backend, Options(stage: 1), Encoder(backend));
        using var stage2 = Create(backend, Options(stage: 2), Encoder(backend));
        Assert.DoesNotContain(stage1.TrainableParameters, np => np.Name.StartsWith(DiLaddModel.LatentHead, StringComparison.Ordinal));
        Assert.Contains(stage2.TrainableParameters, np => np.Name.StartsWith(DiLaddModel.LatentHead, StringComparison.Ordinal));
        var x0 = FujiTestModels.Tokens(new Random(8), 4 * L);
        var codebook = stage1.Quantizer.Codebook.ToArray();
        using (Tape.Begin())
        {
            var loss = (DiLaddLoss)stage1.Loss(x0, 4, L, seed: 2, step: 1, dropout: null);
            Assert.Null(loss.Codes);
            Assert.Equal(0, loss.Terms()[1].NatsPerToken);
            Assert.Equal(loss.Tokens.NelboPerToken(), loss.NelboPerToken());
        }
        Assert.Equal(1, stage1.Quantizer.Updates);
        Assert.NotEqual(codebook, stage1.Quantizer.Codebook.ToArray());
        stage1.Network.Eval();
        codebook = stage1.Quantizer.Codebook.ToArray();
        using (Tape.Begin())
        {
            var loss = (DiLaddLoss)stage2.Loss(x0, 4, L, seed: 2, step: 1, dropout: null);
            Assert.NotNull(loss.Codes);
            Assert.True(loss.Terms()[1].NatsPerToken > 0);
            Assert.Equal(3, loss.Statistics().Count);
            _ = stage1.Loss(x0, 4, L, seed: 2, step: 2, dropout: null);
        }
        Assert.Equal(1, stage1.Quantizer.Updates);
        Assert.Equal(codebook, stage1.Quantizer.Codebook.ToArray());
    }

    [Fact]
    public void BadBuildsAreRejectedClearly()
    {
        var backend = TestBackends.Cpu;
        var e = Assert.Throws<ArgumentException>(() => DiLaddModel.Create(backend, Options(), new Lddm.Models.MmDiTConfig(16, 1, 2, 8, K + 1, L, P + 1, D), Encoder(backend)));
        Assert.Contains("latent patches", e.Message, StringComparison.Ordinal);
        using var model = Create(backend, Options(independent: false), Encoder(backend));
        var s = Assert.Throws<InvalidOperationException>(() => model.UseSequentialSampling(2));
        Assert.Contains("independent_times", s.Message, StringComparison.Ordinal);
    }
}
