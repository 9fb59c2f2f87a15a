using System.Globalization;
using Lddm.Kernels;
using Lddm.Kernels.Ilgpu;

namespace Lddm.Training.Runs;

/// <summary>
/// Kernel launches, synchronisations and host↔device copies of one training step on the GPU path, counted on ILGPU's
/// CPU simulator (the same host-side code as CUDA; the counts are a property of the host program, not of the device).
/// The trainer runs <see cref="WarmupSteps"/> steps first (kernel loading, pool growth), then the counters are read
/// over <c>steps</c> more and divided. Steps that log (read back the loss and the gradient norm), evaluate or write a
/// checkpoint are not among them. The counts do not depend on the batch or the length, so a tiny batch keeps it
/// to seconds.
/// </summary>
public static class StepCounts
{
    public const int WarmupSteps = 1;

    /// <summary>The mean counters per step of <paramref name="steps"/> steady steps of <paramref name="preset"/>.</summary>
    public static BackendCounters PerStep(string preset, int batch = 2, int length = 8, int steps = 2, string model = "mdlm")
    {
        using var backend = IlgpuBackend.CreateCpuSimulator();
        return PerStep(backend, preset, batch, length, steps, model);
    }

    /// <summary>
    /// As <see cref="PerStep(string, int, int, int, string)"/> on <paramref name="backend"/> (nothing else may run on
    /// it meanwhile: its counters are read before and after). Reusing one simulator saves its kernel compilation.
    /// </summary>
    public static BackendCounters PerStep(Backend backend, string preset, int batch, int length, int steps, string model = "mdlm")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var config = TrainStepReport.Silent(new TrainConfig
        {
            Preset = preset,
            Model = model,
            Batch = batch,
            Length = length,
            Steps = WarmupSteps + steps + 1,
        });
        var data = TrainingRun.Data(config);
        using var trainer = new Trainer(backend, config, data, null, TextWriter.Null);
        using var stop = new CancellationTokenSource();
        BackendCounters start = default, end = default;
        trainer.StepCompleted += step =>
        {
            backend.Synchronize(); // a step's launches are all queued once it completes; nothing is left in flight
            if (step == WarmupSteps)
            {
                start = backend.Counters;
            }
            else if (step == WarmupSteps + steps)
            {
                end = backend.Counters;
                stop.Cancel();
            }
        };
        trainer.Run(stop.Token);
        var d = end - start;
        // The two Synchronize calls above are the measurement's own: each interval holds one of them per step.
        return new BackendCounters(d.Launches / steps, (d.Synchronizations - steps) / steps, d.HostToDevice / steps,
            d.DeviceToHost / steps);
    }

    /// <summary>
    /// One line per preset: "step-counts small (mdlm, ILGPU path, counted on …): N launches, S synchronisations per
    /// training step (…)". On <paramref name="device"/> when it is a GPU (CUDA or OpenCL: fast, the same counts),
    /// else on a fresh simulator (minutes per preset: it compiles every kernel).
    /// </summary>
    public static void Run(IEnumerable<string> presets, TextWriter output, Backend? device = null)
    {
        bool onDevice = device is { Kind: BackendKind.Cuda or BackendKind.OpenCL };
        foreach (string preset in presets)
        {
            var c = onDevice ? PerStep(device!, preset, 2, 8, 2) : PerStep(preset);
            string where = onDevice ? device!.Kind.ToString().ToLowerInvariant() : "the simulator";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step-counts {preset} (mdlm, ILGPU path, counted on {where}): {c.Launches} launches, {c.Synchronizations} synchronisations per training step ({c.HostToDevice} host→device, {c.DeviceToHost} device→host copies)"));
        }
    }
}
