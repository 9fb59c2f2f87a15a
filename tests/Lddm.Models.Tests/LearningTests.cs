using System.Globalization;
using Lddm.Kernels.Tests.Support;
using Lddm.Models.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Models.Tests;

/// <summary>
/// Learning sanity on CpuBackend: a 2-block DiT-like network (<see cref="SequenceModel"/>: h = 32, 2 heads) learns to
/// copy and to reverse random sequences (vocab 8, T = 8) with plain AdamW. The bar is relative — the final loss
/// (mean of the last 10 steps) below 10 % of the first — never a fixed number; training stops early below 5 %.
/// </summary>
public sealed class LearningTests(ITestOutputHelper output)
{
    private const int Vocab = 8, Tokens = 8, Batch = 16, MaxSteps = 300, Window = 10;

    public static TheoryData<string, int> Cases => new()
    {
        { "copy", 1 }, { "copy", 2 }, { "copy", 3 },
        { "reverse", 1 }, { "reverse", 2 }, { "reverse", 3 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Two_block_dit_learns_the_task(string task, int seed)
    {
        var config = new DiTConfig(Hidden: 32, Layers: 2, Heads: 2, CondDim: 16, Vocab, Tokens);
        using var trainer = new SequenceTrainer(TestBackends.Cpu, config, (ulong)seed, 1e-2f, withPositions: true);
        var rng = new Random(seed);
        var losses = new List<float>();
        for (int step = 0; step < MaxSteps; step++)
        {
            var (inputs, targets) = Batch_(rng, task);
            losses.Add(trainer.Step(inputs, targets, Batch, Tokens));
            if (losses.Count >= Window && Last(losses) < 0.05 * losses[0])
            {
                break;
            }
        }
        output.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0} seed {1}: first loss {2:F4}, last {3:F4} after {4} steps",
            task, seed, losses[0], Last(losses), losses.Count));
        Assert.True(Last(losses) < 0.1 * losses[0],
            $"{task}, seed {seed}: final loss {Last(losses)} is not below 10 % of the initial {losses[0]} after {losses.Count} steps.");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Rope_only_dit_learns_to_copy(int seed)
    {
        // The full denoiser (token embedding, time embedding at t = 0, RoPE blocks, adaLN final layer).
        var config = new DiTConfig(Hidden: 32, Layers: 2, Heads: 2, CondDim: 16, Vocab, Tokens);
        using var trainer = new SequenceTrainer(TestBackends.Cpu, config, (ulong)seed, 1e-2f);
        var rng = new Random(seed);
        var losses = new List<float>();
        for (int step = 0; step < MaxSteps && !(losses.Count >= Window && Last(losses) < 0.05 * losses[0]); step++)
        {
            var (inputs, targets) = Batch_(rng, "copy");
            losses.Add(trainer.Step(inputs, targets, Batch, Tokens));
        }
        output.WriteLine(string.Format(CultureInfo.InvariantCulture, "DiT copy seed {0}: first loss {1:F4}, last {2:F4} after {3} steps",
            seed, losses[0], Last(losses), losses.Count));
        Assert.True(Last(losses) < 0.1 * losses[0], $"DiT copy, seed {seed}: final loss {Last(losses)} vs initial {losses[0]}.");
    }

    private static double Last(List<float> losses) => losses.TakeLast(Window).Average();

    private static (int[] Inputs, int[] Targets) Batch_(Random rng, string task)
    {
        var inputs = new int[Batch * Tokens];
        var targets = new int[Batch * Tokens];
        for (int b = 0; b < Batch; b++)
        {
            for (int t = 0; t < Tokens; t++)
            {
                inputs[b * Tokens + t] = rng.Next(Vocab);
            }
            for (int t = 0; t < Tokens; t++)
            {
                targets[b * Tokens + t] = task == "copy" ? inputs[b * Tokens + t] : inputs[b * Tokens + Tokens - 1 - t];
            }
        }
        return (inputs, targets);
    }
}
