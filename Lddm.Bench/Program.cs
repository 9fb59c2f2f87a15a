using BenchmarkDotNet.Running;

// One BenchmarkDotNet class per kernel family (naive version as the baseline), plus end-to-end benchmarks.
// Run all:   dotnet run -c Release --project Lddm.Bench -- --filter '*'
// Run one:   dotnet run -c Release --project Lddm.Bench -- --filter '*Matmul*'
BenchmarkSwitcher.FromAssembly(typeof(Lddm.Bench.BenchBackends).Assembly).Run(args);
