using Lddm.Kernels.Tests.Support;
using Lddm.Models.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Lddm.Models.Tests;

/// <summary>Training steps release everything they allocate: the pool's live bytes return to the pre-training level.</summary>
public sealed class MemoryTests(ITestOutputHelper output)
{
    [Fact]
    public void Fifty_training_steps_return_the_pool_to_its_start()
    {
        var backend = TestBackends.Cpu;
        using var trainer = new SequenceTrainer(backend, DiTConfig.Tiny(8, 8) with { Layers = 2 }, 1, 1e-3f);
        var rng = new Random(1);
        long before = backend.PoolStatistics.LiveBytes;
        for (int step = 0; step < 50; step++)
        {
            var tokens = Enumerable.Range(0, 4 * 8).Select(_ => rng.Next(8)).ToArray();
            trainer.Step(tokens, tokens, 4, 8);
        }
        var after = backend.PoolStatistics;
        output.WriteLine($"live bytes before {before}, after 50 steps {after.LiveBytes} ({after.LiveBuffers} live buffers, {after.CachedBytes} cached bytes)");
        Assert.Equal(before, after.LiveBytes);
    }
}
