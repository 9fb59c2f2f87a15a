using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Lddm.Kernels.Tests;

public sealed class AttentionTests
{
    private static readonly AttentionMask[] s_masks =
        [AttentionMask.None, AttentionMask.Causal, AttentionMask.KeyPadding, AttentionMask.CausalKeyPadding];

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 12)]
    public void Forward_and_backward_match_the_float64_reference_on_both_backends(SmallDim tokens, SmallDim dim, int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(2), heads = 1 + rng.Next(2), headDim = Math.Min(16, (int)dim);
        var mask = s_masks[rng.Next(4)];
        foreach (var backend in TestBackends.AllAndNoShuffles)
        {
            CheckAgainstReference(backend, batch, heads, tokens, headDim, mask, seed);
        }
    }

    [Property(Arbitrary = [typeof(Dims)], MaxTest = 12)]
    public void Cpu_matches_the_reference_for_long_sequences_and_head_dims_up_to_128(Dim tokens, int seed)
    {
        var rng = new Random(seed);
        int headDim = rng.Next(3) == 0 ? 128 : 1 + rng.Next(128);
        CheckAgainstReference(TestBackends.Cpu, 1 + rng.Next(2), 1 + rng.Next(2), Math.Min(150, (int)tokens), headDim,
            s_masks[rng.Next(4)], seed);
    }

    [Theory]
    [MemberData(nameof(TestBackends.NamesAndNoShuffles), MemberType = typeof(TestBackends))]
    public void Edge_shapes_match_the_reference_in_every_mode(string name)
    {
        var backend = TestBackends.Get(name);
        foreach (var mask in s_masks)
        {
            foreach (var (t, d) in new[] { (1, 1), (1, 16), (17, 3), (33, 16) })
            {
                CheckAgainstReference(backend, 2, 2, t, d, mask, seed: t * 131 + d);
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.NamesAndNoShuffles), MemberType = typeof(TestBackends))]
    public void Causal_output_never_depends_on_future_keys_or_values(string name)
    {
        var backend = TestBackends.Get(name);
        const int T = 21, D = 8;
        var rng = new Random(7);
        var q = Numerics.RandomFloats(rng, T * D);
        var k = Numerics.RandomFloats(rng, T * D);
        var v = Numerics.RandomFloats(rng, T * D);
        var (o1, _) = Forward(backend, q, k, v, null, 1, 1, T, D, AttentionMask.Causal);
        for (int t = 0; t < T - 1; t++)
        {
            var k2 = (float[])k.Clone();
            var v2 = (float[])v.Clone();
            for (int i = (t + 1) * D; i < T * D; i++)
            {
                k2[i] = (float)(rng.NextDouble() * 20 - 10);
                v2[i] = (float)(rng.NextDouble() * 20 - 10);
            }
            var (o2, _) = Forward(backend, q, k2, v2, null, 1, 1, T, D, AttentionMask.Causal);
            for (int i = 0; i <= t; i++)
            {
                for (int d = 0; d < D; d++)
                {
                    Assert.True(BitConverter.SingleToInt32Bits(o1[i * D + d]) == BitConverter.SingleToInt32Bits(o2[i * D + d]),
                        $"{backend.Name}: o[{i}, {d}] changed when keys/values after position {t} changed.");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestBackends.NamesAndNoShuffles), MemberType = typeof(TestBackends))]
    public void Fully_masked_rows_give_zero_output_minus_infinity_lse_and_zero_gradients(string name)
    {
        var backend = TestBackends.Get(name);
        const int B = 2, H = 2, T = 9, D = 5;
        foreach (var mask in new[] { AttentionMask.KeyPadding, AttentionMask.CausalKeyPadding })
        {
            var r = Run(backend, B, H, T, D, mask, [0, 4], seed: 3);
            int half = H * T * D; // batch 0 is fully masked
            Assert.All(r.O.Take(half), x => Assert.Equal(0f, x));
            Assert.All(r.Lse.Take(H * T), x => Assert.Equal(float.NegativeInfinity, x));
            Assert.DoesNotContain(r.O.Concat(r.Dq).Concat(r.Dk).Concat(r.Dv), float.IsNaN);
            for (int i = 0; i < half; i++)
            {
                Assert.Equal(r.Prefill[0][i], r.Dq[i]);
                Assert.Equal(r.Prefill[1][i], r.Dk[i]);
                Assert.Equal(r.Prefill[2][i], r.Dv[i]);
            }
        }
    }

    [Fact]
    public void Reference_backward_matches_central_differences_of_the_reference_forward()
    {
        const int B = 2, H = 1, T = 5, D = 3;
        var rng = new Random(11);
        int n = B * H * T * D;
        var q = Numerics.RandomFloats(rng, n);
        var k = Numerics.RandomFloats(rng, n);
        var v = Numerics.RandomFloats(rng, n);
        var dO = Numerics.RandomFloats(rng, n);
        int[] lengths = [3, 0];
        foreach (var mask in s_masks)
        {
            var (dq, dk, dv) = AttentionReference.Backward(q, k, v, dO, lengths, B, H, T, D, mask);
            var grads = new[] { dq, dk, dv };
            var inputs = new[] { q, k, v };
            for (int which = 0; which < 3; which++)
            {
                for (int i = 0; i < n; i++)
                {
                    double numeric = CentralDifference(inputs, which, i, x =>
                    {
                        var (o, _) = AttentionReference.Forward(x[0], x[1], x[2], lengths, B, H, T, D, mask);
                        double loss = 0;
                        for (int j = 0; j < n; j++) loss += o[j] * dO[j];
                        return loss;
                    });
                    Assert.True(Math.Abs(numeric - grads[which][i]) < 1e-3,
                        $"mask {mask}, input {"qkv"[which]}[{i}]: analytic {grads[which][i]}, numeric {numeric}");
                }
            }
        }
    }

    private static double CentralDifference(float[][] inputs, int which, int i, Func<float[][], double> f)
    {
        const float h = 1e-2f;
        float keep = inputs[which][i];
        inputs[which][i] = keep + h;
        double up = f(inputs);
        inputs[which][i] = keep - h;
        double down = f(inputs);
        inputs[which][i] = keep;
        return (up - down) / (2 * (double)h);
    }

    private static void CheckAgainstReference(Backend backend, int batch, int heads, int tokens, int headDim,
        AttentionMask mask, int seed)
    {
        var rng = new Random(seed ^ 0x5bd1e995);
        int[]? lengths = (mask & AttentionMask.KeyPadding) == 0 ? null :
            Enumerable.Range(0, batch).Select(b => b == 0 ? tokens : rng.Next(3) switch { 0 => 0, 1 => 1, _ => rng.Next(tokens + 1) }).ToArray();
        var r = Run(backend, batch, heads, tokens, headDim, mask, lengths, seed);
        string context = $"{backend.Name}, seed {seed}, (B, H, T, D) = ({batch}, {heads}, {tokens}, {headDim}), mask {mask}, " +
            $"lengths [{string.Join(", ", lengths ?? [])}]";
        var (eo, eLse) = AttentionReference.Forward(r.Q, r.K, r.V, lengths, batch, heads, tokens, headDim, mask);
        var (edq, edk, edv) = AttentionReference.Backward(r.Q, r.K, r.V, r.DO, lengths, batch, heads, tokens, headDim, mask);
        double tol = Numerics.Tolerance(tokens + headDim, 4e-6);
        Numerics.AssertClose(eo, r.O, tol, $"o on {context}");
        AssertLse(eLse, r.Lse, tol, context);
        Numerics.AssertClose(Add(edq, r.Prefill[0]), r.Dq, tol, $"dq on {context}");
        Numerics.AssertClose(Add(edk, r.Prefill[1]), r.Dk, tol, $"dk on {context}");
        Numerics.AssertClose(Add(edv, r.Prefill[2]), r.Dv, tol, $"dv on {context}");
    }

    private static void AssertLse(double[] expected, float[] actual, double tol, string context)
    {
        var e = (double[])expected.Clone();
        var a = (float[])actual.Clone();
        for (int i = 0; i < e.Length; i++)
        {
            if (double.IsNegativeInfinity(e[i]) || float.IsNegativeInfinity(a[i]))
            {
                if (!(double.IsNegativeInfinity(e[i]) && float.IsNegativeInfinity(a[i])))
                {
                    throw new XunitException($"lse on {context}: index {i}: expected {e[i]}, got {a[i]}.");
                }
                (e[i], a[i]) = (0, 0);
            }
        }
        Numerics.AssertClose(e, a, tol, $"lse on {context}");
    }

    private static double[] Add(double[] a, float[] b) => a.Select((x, i) => x + b[i]).ToArray();

    private sealed record Result(float[] Q, float[] K, float[] V, float[] DO, float[] O, float[] Lse,
        float[][] Prefill, float[] Dq, float[] Dk, float[] Dv);

    /// <summary>Random inputs; forward into poisoned o/lse; backward into prefilled gradients.</summary>
    private static Result Run(Backend backend, int batch, int heads, int tokens, int headDim, AttentionMask mask,
        int[]? lengths, int seed)
    {
        var rng = new Random(seed);
        int n = batch * heads * tokens * headDim;
        float[] q = Numerics.RandomFloats(rng, n, 2f), k = Numerics.RandomFloats(rng, n, 2f);
        float[] v = Numerics.RandomFloats(rng, n), dO = Numerics.RandomFloats(rng, n);
        var prefill = new[] { Numerics.RandomFloats(rng, n), Numerics.RandomFloats(rng, n), Numerics.RandomFloats(rng, n) };
        using var dq_ = backend.Upload<float>(q);
        using var dk_ = backend.Upload<float>(k);
        using var dv_ = backend.Upload<float>(v);
        using var ddO = backend.Upload<float>(dO);
        using var dl = lengths is null ? null : backend.Upload<int>(lengths);
        using var o = Numerics.Poisoned(backend, n);
        using var lse = Numerics.Poisoned(backend, batch * heads * tokens);
        backend.AttentionForward(dq_, dk_, dv_, dl, batch, heads, tokens, headDim, mask, o, lse);
        using var gq = backend.Upload<float>(prefill[0]);
        using var gk = backend.Upload<float>(prefill[1]);
        using var gv = backend.Upload<float>(prefill[2]);
        backend.AttentionBackward(dq_, dk_, dv_, o, lse, ddO, dl, batch, heads, tokens, headDim, mask, gq, gk, gv);
        return new Result(q, k, v, dO, o.ToArray(), lse.ToArray(), prefill, gq.ToArray(), gk.ToArray(), gv.ToArray());
    }

    private static (float[] O, float[] Lse) Forward(Backend backend, float[] q, float[] k, float[] v, int[]? lengths,
        int batch, int heads, int tokens, int headDim, AttentionMask mask)
    {
        using var dq = backend.Upload<float>(q);
        using var dk = backend.Upload<float>(k);
        using var dv = backend.Upload<float>(v);
        using var dl = lengths is null ? null : backend.Upload<int>(lengths);
        using var o = Numerics.Poisoned(backend, q.Length);
        using var lse = Numerics.Poisoned(backend, batch * heads * tokens);
        backend.AttentionForward(dq, dk, dv, dl, batch, heads, tokens, headDim, mask, o, lse);
        return (o.ToArray(), lse.ToArray());
    }
}
