using Lddm.Kernels;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Engine;
using Lddm.Training.Optim;
using Lddm.Training.Runs;

namespace Lddm.Cli;

/// <summary>
/// A checkpoint's config, data and model (the kind its saved config names), with the EMA weights loaded as the
/// network's weights (frozen parameters, which have no EMA, keep their saved weights) and the network in eval mode.
/// </summary>
internal sealed class LoadedCheckpoint : IDisposable
{
    private LoadedCheckpoint(string directory, int step, TrainConfig config, ITokenData data, ITrainableModel model)
    {
        Directory = directory;
        Step = step;
        Config = config;
        Data = data;
        Model = model;
    }

    public string Directory { get; }

    public int Step { get; }

    public TrainConfig Config { get; }

    public ITokenData Data { get; }

    public ITrainableModel Model { get; }

    public static LoadedCheckpoint From(Backend backend, string dir)
    {
        var store = new CheckpointStore(dir) { Warn = m => Console.Error.WriteLine($"lddm: warning: {m}") };
        var state = store.ReadState();
        var config = TrainConfig.FromJson(state.Config, Path.Combine(dir, "state.json")).Validate();
        var data = TrainingRun.Data(config, dir);
        var model = TrainingRun.CreateModel(backend, config, data.Vocabulary);
        try
        {
            using var ema = new Ema(model.TrainableParameters, config.EmaDecay);
            store.Load(model.Network, null, ema, config.ToJson(), defaults: new TrainConfig().ToJson()); // keys newer than the checkpoint: defaults
            ema.SwapInto(); // the network now holds the EMA weights
            model.Network.Eval();
        }
        catch
        {
            model.Dispose();
            throw;
        }
        Console.WriteLine($"checkpoint {store.Directory} ({model.Kind}, step {state.Step}), {data.Description}");
        return new LoadedCheckpoint(store.Directory, state.Step, config, data, model);
    }

    public void Dispose() => Model.Dispose();
}
