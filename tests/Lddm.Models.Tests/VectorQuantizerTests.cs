using FsCheck.Xunit;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Lddm.Models.Tests;

/// <summary>
/// <see cref="VectorQuantizer"/>: the commitment gradient by central differences of a float64 reference, no gradient
/// through the code index, the straight-through output, the EMA state against the kernel reference, dead-code
/// re-seeding and its determinism, and the usage statistics.
/// </summary>
public sealed class VectorQuantizerTests
{
    private const int B = 2, P = 3, C = 7, D = 5;

    /// <summary>z near random codes (so a small step never changes an assignment), at random scales.</summary>
    private static float[] NearCodes(Random rng, float[] codebook, int rows, int d, int codes, double noise = 0.2)
    {
        var z = new float[rows * d];
        for (int n = 0; n < rows; n++)
        {
            int k = rng.Next(codes);
            double scale = 0.5 + 2 * rng.NextDouble();
            for (int j = 0; j < d; j++)
            {
                z[n * d + j] = (float)(scale * (codebook[k * d + j] + noise * (rng.NextDouble() * 2 - 1)));
            }
        }
        return z;
    }

    /// <summary>β·mean((z/‖z‖ − e_k)²) in float64 with the codes k fixed.</summary>
    private static double Commitment(double[] z, float[] codebook, int[] ids, int d, double beta)
    {
        double s = 0;
        int rows = ids.Length;
        for (int n = 0; n < rows; n++)
        {
            double norm = 0;
            for (int j = 0; j < d; j++)
            {
                norm += z[n * d + j] * z[n * d + j];
            }
            norm = Math.Sqrt(norm);
            for (int j = 0; j < d; j++)
            {
                double diff = z[n * d + j] / norm - codebook[ids[n] * d + j];
                s += diff * diff;
            }
        }
        return beta * s / (rows * d);
    }

    [Property(MaxTest = 8)]
    public void Commitment_value_and_gradient_match_central_differences_of_a_float64_reference(int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            using var vq = new VectorQuantizer(backend, new VectorQuantizerConfig(C, D, Commitment: 0.1f + (float)rng.NextDouble()), (ulong)(uint)seed);
            vq.Eval();
            var codebook = vq.Codebook.ToArray();
            var z = NearCodes(rng, codebook, B * P, D, C);
            using var tape = Tape.Begin();
            var zt = Tensor.FromArray(backend, z, B, P, D);
            zt.RequiresGrad = true;
            var output = vq.Forward(zt);
            output.Commitment.Backward();
            var ids = output.Indices.ToArray();
            Assert.Equal([B, P], output.Indices.Shape.ToArray());
            Assert.Equal(QuantizeReference.NearestCode(z, codebook, B * P, C, D).Indices, ids);
            double beta = vq.Config.Commitment;
            var zd = z.Select(v => (double)v).ToArray();
            string context = $"{backend.Name}, seed {seed}";
            double expected = Commitment(zd, codebook, ids, D, beta);
            Assert.True(Math.Abs(output.Commitment.Item() - expected) <= 1e-6 * (1 + expected), $"{context}: commitment {output.Commitment.Item()} vs {expected}");
            var grad = zt.Grad!.ToArray();
            const double h = 1e-6;
            for (int i = 0; i < z.Length; i++)
            {
                var plus = (double[])zd.Clone();
                var minus = (double[])zd.Clone();
                plus[i] += h;
                minus[i] -= h;
                double fd = (Commitment(plus, codebook, ids, D, beta) - Commitment(minus, codebook, ids, D, beta)) / (2 * h);
                if (!(Math.Abs(grad[i] - fd) <= 1e-4 * (1e-3 + Math.Abs(fd)) + 1e-7))
                {
                    throw new XunitException($"{context}: ∂commitment/∂z[{i}] = {grad[i]:R}, central difference {fd:R}.");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void No_gradient_reaches_the_encoder_through_the_code_index_and_the_quantized_output_is_straight_through(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        var rng = new Random(3);
        using var vq = new VectorQuantizer(backend, new VectorQuantizerConfig(C, D), 9);
        var z = Numerics.RandomFloats(rng, B * P * D, 2f);
        var w = Numerics.RandomFloats(rng, B * P * D);
        using var table = new Parameter(backend, C + 1, 4); // how the latent stream embeds codes (plus MASK)
        table.Load(Numerics.RandomFloats(rng, (C + 1) * 4));
        using (var tape = Tape.Begin())
        {
            var zt = Tensor.FromArray(backend, z, B, P, D);
            zt.RequiresGrad = true;
            var output = vq.Forward(zt);
            var loss = SumOp.Apply(EmbeddingOp.Apply(output.Indices, table));
            loss.Backward();
            Assert.NotNull(table.Grad); // the backward did run
            Assert.True(zt.Grad is null || zt.Grad.ToArray().All(g => g == 0f), "a gradient reached z through the code index");
        }
        table.ClearGrad();
        float[] straight, direct, values;
        int[] ids;
        var codebook = vq.Codebook.ToArray(); // before the training-mode update of the call below
        using (var tape = Tape.Begin())
        {
            var zt = Tensor.FromArray(backend, z, B, P, D);
            zt.RequiresGrad = true;
            var output = vq.Forward(zt);
            values = output.Quantized.ToArray();
            ids = output.Indices.ToArray();
            SumOp.Apply(MulOp.Apply(output.Quantized, Tensor.FromArray(backend, w, B, P, D))).Backward();
            straight = zt.Grad!.ToArray();
        }
        using (var tape = Tape.Begin())
        {
            var zt = Tensor.FromArray(backend, z, B, P, D);
            zt.RequiresGrad = true;
            var flat = L2NormalizeOp.Apply(ReshapeOp.Apply(zt, B * P, D));
            SumOp.Apply(MulOp.Apply(flat, Tensor.FromArray(backend, w, B * P, D))).Backward();
            direct = zt.Grad!.ToArray();
        }
        Assert.Equal(direct, straight);
        for (int n = 0; n < B * P; n++)
        {
            for (int j = 0; j < D; j++)
            {
                Assert.True(Math.Abs(codebook[ids[n] * D + j] - values[n * D + j]) < 1e-6, $"n {n} j {j} id {ids[n]} code {codebook[ids[n] * D + j]} value {values[n * D + j]}");
            }
        }
    }

    [Property(MaxTest = 8)]
    public void Training_call_moves_the_state_by_the_reference_ema_update(int seed)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var config = new VectorQuantizerConfig(C, D, Decay: rng.NextDouble() * 0.99, DeadThreshold: 0f);
            using var vq = new VectorQuantizer(backend, config, 5);
            // A first call gives non-trivial EMA sums and counts; the second is checked.
            using (var tape = Tape.Begin())
            {
                vq.Forward(Tensor.FromArray(backend, Numerics.RandomFloats(rng, B * P * D), B, P, D));
            }
            var cs = vq.ClusterSize.ToArray();
            var ea = vq.EmbedAvg.ToArray();
            var z = Numerics.RandomFloats(rng, B * P * D, 3f);
            int[] ids;
            using (var tape = Tape.Begin())
            {
                ids = vq.Forward(Tensor.FromArray(backend, z, B, P, D)).Indices.ToArray();
            }
            var (rcs, rea, rcb) = QuantizeReference.EmaUpdate(z, ids, B * P, C, D, config.Decay, config.Epsilon, cs, ea);
            string context = $"{backend.Name}, seed {seed}";
            Numerics.AssertClose(rcs, vq.ClusterSize.ToArray(), 1e-6, context + " cluster sizes");
            Numerics.AssertClose(rea, vq.EmbedAvg.ToArray(), 1e-6, context + " EMA sums");
            Numerics.AssertClose(rcb, vq.Codebook.ToArray(), 1e-5, context + " codebook");
            Assert.Equal(2, vq.Updates);
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Dead_codes_are_reseeded_from_distinct_batch_vectors_deterministically(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        var rng = new Random(17);
        var z = Numerics.RandomFloats(rng, B * P * D, 2f);
        float[] Run(out CodeUsage usage, out int[] ids)
        {
            using var vq = new VectorQuantizer(backend, new VectorQuantizerConfig(4, D), 21);
            using var tape = Tape.Begin();
            var output = vq.Forward(Tensor.FromArray(backend, z, B, P, D));
            usage = output.Usage;
            ids = output.Indices.ToArray();
            Assert.All(vq.ClusterSize.ToArray(), s => Assert.Equal(2f, s)); // every code was dead (counts start at 0)
            return vq.Codebook.ToArray();
        }
        var codebook = Run(out var usage, out var ids);
        Assert.Equal(4, usage.DeadCodes);
        var hist = ids.GroupBy(k => k).Select(g => (double)g.Count() / ids.Length).ToArray();
        Assert.Equal(Math.Exp(-hist.Sum(p => p * Math.Log(p))), usage.Perplexity, 12);
        Assert.Equal(hist.Length, usage.UsedCodes);
        // Each re-seeded code is the normalised form of a different batch vector (6 rows ≥ 4 dead codes).
        var matched = new HashSet<int>();
        for (int k = 0; k < 4; k++)
        {
            var row = codebook.AsSpan(k * D, D).ToArray();
            int n = Enumerable.Range(0, B * P).Single(n =>
                QuantizeReference.Normalise(z.AsSpan(n * D, D)).Zip(row).All(pair => Math.Abs(pair.First - pair.Second) < 1e-6));
            Assert.True(matched.Add(n), $"row {n} re-seeded two codes");
        }
        Assert.Equal(codebook, Run(out _, out _));
    }

    [Fact]
    public void Config_rejects_bad_values_with_the_key_named()
    {
        Assert.Contains("'Decay' must be in [0, 1)", Assert.Throws<ArgumentOutOfRangeException>(() => new VectorQuantizerConfig(4, 2, Decay: 1.0)).Message);
        Assert.Contains("'Codes'", Assert.Throws<ArgumentOutOfRangeException>(() => new VectorQuantizerConfig(0, 2)).Message);
        Assert.Contains("'Commitment'", Assert.Throws<ArgumentOutOfRangeException>(() => new VectorQuantizerConfig(4, 2, Commitment: -1f)).Message);
        using var vq = new VectorQuantizer(TestBackends.Cpu, new VectorQuantizerConfig(4, 3), 1);
        using var tape = Tape.Begin();
        Assert.Contains("z must be (…, 3)", Assert.Throws<ArgumentException>(() => vq.Forward(Tensor.Zeros(TestBackends.Cpu, new Shape(2, 4)))).Message);
    }
}
