// Lddm from a host application: train a tiny model from code, then load the run and generate.
//   dotnet run -- train DIR [STEPS]   trains a tiny MDLM on the bundled Moby-Dick text into DIR (progress on stdout)
//   dotnet run -- generate DIR        loads DIR's checkpoint (EMA weights) and prints 4 samples
// The README's embedding snippet is the two regions below; keep them in sync.
using Lddm.Kernels;
using Lddm.Training.Engine;
using Lddm.Training.Runs;

if (args.Length < 2 || args[0] is not ("train" or "generate"))
{
    Console.Error.WriteLine("usage: Lddm.Sample train DIR [STEPS] | generate DIR");
    return 2;
}
string dir = args[1];
using var backend = Devices.Create("cpu");

if (args[0] == "train")
{
    int steps = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 30;
    #region train
    var config = new TrainConfig { Preset = "xxs", Length = 32, Batch = 8, Steps = steps, WarmupSteps = 5, LogEvery = 10, EvalSequences = 8 };
    using var stop = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); }; // Ctrl+C: checkpoint and stop
    var result = LddmTraining.Train(backend, config, dir, new LddmTrainingOptions
    {
        Progress = new SynchronousProgress<TrainingProgress>(p => Console.WriteLine(p.Message)),
    }, stop.Token);
    Console.WriteLine($"trained {result.Step} steps into {result.Directory}: validation NELBO {result.ValidationNelbo:F3} nats/token");
    #endregion
    return result.Completed ? 0 : 130;
}

#region generate
using var model = LddmModel.Load(dir, backend);
var generation = model.Generate(new GenerateOptions { Count = 4, Steps = 16, Seed = 1 });
foreach (string text in generation.Texts)
{
    Console.WriteLine(text);
}
#endregion
Console.WriteLine($"{model.Kind} at step {model.Step}: {generation.Texts.Count} samples, {generation.Nfe} network calls");
return 0;
