using Lddm.Kernels;
using Lddm.Training.Runs;

namespace Lddm.Cli;

/// <summary>Loads a checkpoint through the library (<see cref="LddmModel.Load(string, Backend, Action{string}?)"/>) and says what it loaded.</summary>
internal static class CheckpointLoading
{
    public static LddmModel Load(Backend backend, string dir)
    {
        var model = LddmModel.Load(dir, backend, m => Console.Error.WriteLine($"lddm: warning: {m}"));
        Console.WriteLine($"checkpoint {model.Directory} ({model.Kind}, step {model.Step}), {model.Data.Description}");
        return model;
    }
}
