using Lddm.Autograd;
using Lddm.Kernels.Tests.Support;
using Lddm.Models.Tests.Support;
using Xunit;

namespace Lddm.Models.Tests;

/// <summary>
/// <see cref="MmDiT"/> with a discrete latent (Di-LADD): codes in [0, C] embedded by a (C + 1)-row table, C + 1 code
/// logits per patch, coupling through the joint attention only within a sequence, gradients reaching exactly the
/// table rows of the codes used, and clear errors for the wrong latent form.
/// </summary>
public sealed class MmDiTDiscreteLatentTests
{
    private const int B = 2, L = 3, P = 2, C = 6, V = 5;

    private static MmDiTConfig Tiny() => new MmDiTConfig(8, 1, 2, 8, V, 6, P, 4) { LatentCodes = C };

    private static float[] Run(MmDiT model, int[] tokens, int[] codes, out float[] codeLogits)
    {
        var backend = model.Backend;
        using var tape = Tape.Begin();
        var output = model.Forward(IntTensor.FromArray(backend, tokens, B, L), IntTensor.FromArray(backend, codes, B, P), [0.3f, 0.8f], [0.1f, 0.6f]);
        Assert.Equal([B, L, V], output.Logits.Shape.ToArray());
        Assert.Equal([B, P, C + 1], output.Latent.Shape.ToArray());
        codeLogits = output.Latent.ToArray();
        return output.Logits.ToArray();
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Codes_condition_only_their_own_sequence_and_the_head_gives_C_plus_1_logits(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        using var model = new MmDiT(backend, Tiny());
        Assert.Null(model.LatentIn1);
        Assert.Equal([C + 1, 8], model.LatentEmbed!.Table.Shape.ToArray());
        model.Initialize(3);
        var rng = new Random(4);
        var tokens = Enumerable.Range(0, B * L).Select(_ => rng.Next(V)).ToArray();
        int[] codes = [1, C, 2, 5]; // C is the latent chain's MASK
        Run(model, tokens, codes, out var fresh);
        Assert.All(fresh, v => Assert.Equal(0f, v)); // zero-initialised heads
        ModelGradCheck.RandomizeZeroInit(model, 5);
        var before = Run(model, tokens, codes, out _);
        var after = Run(model, tokens, [1, C, 3, 5], out _); // sequence 1's first code changes
        Assert.Equal(before[..(L * V)], after[..(L * V)]);
        Assert.NotEqual(before[(L * V)..], after[(L * V)..]);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Gradient_reaches_exactly_the_table_rows_of_the_codes_used(string backendName)
    {
        var backend = TestBackends.Get(backendName);
        using var model = new MmDiT(backend, Tiny());
        model.Initialize(6);
        ModelGradCheck.RandomizeZeroInit(model, 7);
        int[] codes = [0, C, 0, 4];
        using (var tape = Tape.Begin())
        {
            var output = model.Forward(IntTensor.FromArray(backend, [1, 2, 3, 4, 0, 1], B, L), IntTensor.FromArray(backend, codes, B, P),
                [0.5f, 0.5f], [0.2f, 0.9f]);
            SumOp.Apply(MulOp.Apply(output.Latent, Tensor.FromArray(backend, Numerics.RandomFloats(new Random(8), B * P * (C + 1)), B, P, C + 1))).Backward();
        }
        var grad = model.LatentEmbed!.Table.Grad!.ToArray();
        for (int row = 0; row <= C; row++)
        {
            bool used = codes.Contains(row);
            bool nonzero = grad.AsSpan(row * 8, 8).ToArray().Any(g => g != 0f);
            Assert.True(used == nonzero, $"table row {row}: used {used}, gradient nonzero {nonzero}");
        }
    }

    [Fact]
    public void The_wrong_latent_form_is_rejected_with_one_clear_message()
    {
        var backend = TestBackends.Cpu;
        using var discrete = new MmDiT(backend, Tiny());
        using var gaussian = new MmDiT(backend, Tiny() with { LatentCodes = 0 });
        using var tape = Tape.Begin();
        var tokens = IntTensor.FromArray(backend, new int[B * L], B, L);
        Assert.Contains("discrete latent of 6 codes", Assert.Throws<InvalidOperationException>(() =>
            discrete.Forward(tokens, Tensor.Zeros(backend, new Shape(B, P, 4)), [0f, 0f], [0f, 0f])).Message);
        Assert.Contains("Gaussian latent", Assert.Throws<InvalidOperationException>(() =>
            gaussian.Forward(tokens, IntTensor.FromArray(backend, new int[B * P], B, P), [0f, 0f], [0f, 0f])).Message);
        Assert.Contains("codes must be (2, 2)", Assert.Throws<ArgumentException>(() =>
            discrete.Forward(tokens, IntTensor.FromArray(backend, new int[B], B, 1), [0f, 0f], [0f, 0f])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tiny() with { LatentCodes = -1 });
    }
}
