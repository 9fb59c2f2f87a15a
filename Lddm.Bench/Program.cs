using BenchmarkDotNet.Running;
using Lddm.Bench;
using Lddm.Training.Runs;

// One BenchmarkDotNet class per kernel family (naive version as the baseline), plus end-to-end benchmarks.
// Run all:   dotnet run -c Release --project Lddm.Bench -- --filter '*'
// Run one:   dotnet run -c Release --project Lddm.Bench -- --filter '*Matmul*'
// Reports:   dotnet run -c Release --project Lddm.Bench -- report attention|attnlayout|sample|ditblock|endtoend|kernelcpu|trainstep [presets] [rounds] [steps]
//            dotnet run -c Release --project Lddm.Bench -- report stepcounts [presets]   (launches/synchronisations per GPU step)
// Data-parallel: [mpirun --oversubscribe -np K] dotnet Lddm.Bench/bin/Release/net10.0/Lddm.Bench.dll report distributed [steps] [preset] [batch]
if (args is ["report", "attention"])
{
    AttentionReport.Run(BenchBackends.Cpu, Console.Out);
    return;
}
if (args is ["report", "ditblock"])
{
    DiTBlockReport.Run(BenchBackends.Cpu, Console.Out);
    return;
}
if (args is ["report", "endtoend"])
{
    EndToEndBenchmarks.Report(BenchBackends.Cpu, Console.Out);
    return;
}
if (args is ["report", "kernelcpu", .. var cpuArgs])
{
    KernelCpuTimeReport.Run(Console.Out, cpuArgs.Length > 0 ? cpuArgs[0] : null);
    return;
}
if (args is ["report", "sample", .. var sampleArgs])
{
    SampleReport.Run(sampleArgs, Console.Out);
    return;
}
if (args is ["report", "attnlayout", .. var layoutArgs])
{
    AttentionLayoutReport.Run(layoutArgs, Console.Out);
    return;
}
if (args is ["report", "trainstep", .. var trainArgs])
{
    TrainStepReport.Run(trainArgs, Console.Out);
    return;
}
if (args is ["report", "stepcounts", .. var countArgs])
{
    StepCounts.Run(countArgs.Length > 0 ? countArgs[0].Split(',') : ["tiny", "small"], Console.Out);
    return;
}
if (args is ["report", "distributed", .. var rest])
{
    DistributedReport.Run(rest, Console.Out);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(BenchBackends).Assembly).Run(args);
