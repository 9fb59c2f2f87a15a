using Lddm.Kernels.Ilgpu;
using Lddm.Training.Runs;
using Xunit;

namespace Lddm.Training.Tests.Runs;

public sealed class StepCountsTests
{
    [Fact]
    public void Launches_and_synchronisations_per_step_do_not_depend_on_batch_or_length()
    {
        // A dedicated simulator: parallel tests must not add to its counters.
        using var backend = IlgpuBackend.CreateCpuSimulator();
        var rng = new Random();
        // Batches of 2 and more: at B = 1 a slice of the per-sequence modulation vectors is one contiguous run, a view of
        // the buffer that needs no gather launch, so a step there launches fewer kernels.
        int b1 = 2 + rng.Next(2), l1 = 4 * (1 + rng.Next(2)), b2 = b1 + 1 + rng.Next(2), l2 = l1 + 4 * (1 + rng.Next(2));
        var a = StepCounts.PerStep(backend, "xxs", b1, l1, steps: 1);
        var b = StepCounts.PerStep(backend, "xxs", b2, l2, steps: 1);
        Assert.Equal(a, b);
        Assert.True(a.Launches > 50 && a.HostToDevice > 0, $"implausible counts {a}");
        // Uploads are staged and the ids are checked on the host: the divergence guard's one read is the only wait.
        Assert.True(a.Synchronizations == 1 && a.DeviceToHost == 1, $"a step should wait once, for the guard's read: {a}");
    }
}
