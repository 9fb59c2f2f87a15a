using System.Diagnostics;
using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Distributed;
using Lddm.Training.Evaluation;
using Lddm.Training.Mdlm;
using Lddm.Training.Optim;

namespace Lddm.Training.Engine;

/// <summary>
/// Trains any <see cref="ITrainableModel"/> (MDLM, FUJI, SEQ, AR) over its trainable parameters: AdamW with warm-up then constant or cosine LR, global-norm clipping, EMA with warm-up (used for
/// evaluation), gradient accumulation, periodic validation NELBO, a progress line that reads well in a log file,
/// and atomic checkpoints. Every random draw is a function of (seed, step), so a resumed run continues exactly
/// where an uninterrupted one would be. With <see cref="TrainerOptions.Init"/> (SEQ/FUJI stage 2) the network starts from
/// that checkpoint's EMA weights wherever it holds a parameter of the same name. It writes nothing to the console: what a
/// log would say arrives as <see cref="TrainingProgress"/> reports.
/// Data-parallel over K ranks (an <see cref="ICollective"/>): rank r computes micro-batches (step−1)·K·A + r·A + a of
/// every step (A = grad_accumulation), the gradients are averaged across ranks before clipping, every rank takes the
/// same optimizer and EMA step, and rank 0 alone logs, evaluates and writes checkpoints. K ranks with batch B therefore
/// train exactly as one process with batch B and grad_accumulation K·A. With K = 1 nothing of this runs.
/// </summary>
public sealed class TrainingLoop : IDisposable
{
    private readonly TrainerOptions _config;
    private readonly ITokenData _data;
    private readonly ParameterArena? _arena; // the trainable weights and gradients, flat (null: per tensor)
    private readonly AdamW _optimizer;
    private readonly Ema _ema;
    private readonly GradientClipper _clipper;
    private readonly DeviceBuffer<float> _probe; // [loss of each micro-batch, squared gradient norm]: one read per step
    private readonly DeviceBuffer<float>[] _probeSlots;
    private readonly List<Func<double>[]> _pendingNelbo = []; // per step since the last log line: each micro-batch's deferred NELBO
    private readonly LearningRateSchedule _lr;
    private readonly CheckpointStore? _store;
    private readonly IProgress<TrainingProgress>? _progress; // null on ranks other than 0
    private readonly ICollective _collective;
    private readonly GradientAllReduce? _allReduce; // null with one rank
    private bool _stopAgreed;
    private int _savedStep = -1;

    /// <summary>
    /// Trains <paramref name="model"/>, which the loop now owns (and disposes), as rank
    /// <paramref name="collective"/>.Rank of its ranks (default: one process). Every rank constructs its loop at the
    /// same point; only rank 0 reports to <paramref name="progress"/> and writes <paramref name="outputDirectory"/>.
    /// </summary>
    public TrainingLoop(ITrainableModel model, TrainerOptions options, ITokenData data, string? outputDirectory,
        IProgress<TrainingProgress>? progress = null, ICollective? collective = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        try
        {
            ArgumentNullException.ThrowIfNull(options);
            ArgumentNullException.ThrowIfNull(data);
            if (data.Length != options.Length)
            {
                throw new ArgumentException($"The data gives sequences of {data.Length} tokens but the run has length = {options.Length}.", nameof(data));
            }
        }
        catch
        {
            model.Dispose(); // the loop owns the model from the call on
            throw;
        }
        _config = options;
        _data = data;
        _collective = collective ?? SingleProcess.Instance;
        _progress = _collective.Rank == 0 ? progress : null;
        Model = model;
        try
        {
            if (_collective.Size > 1)
            {
                DataParallel.RequireSameRun(_collective, options.RunConfig, data.Description);
            }
            if (options.Init.Length > 0 && _collective.Rank == 0)
            {
                // Before the optimizer and the EMA copy the weights, so both start from the loaded ones.
                LoadInitialWeights(options.Init);
            }
            DataParallel.BroadcastParameters(_collective, model.Network); // rank 0's weights everywhere (no-op for K = 1)
        }
        catch
        {
            model.Dispose(); // the loop owns the model from the call on
            throw;
        }
        var config = options;
        // Weights and gradients in one flat buffer each, so AdamW, the EMA, the norm and the clip are a few launches
        // per step instead of a few per tensor (issue #15); after the initial weights are in, before anything copies them.
        _arena = ParameterArena.TryCreate(model.TrainableParameters.Select(np => np.Parameter));
        _optimizer = new AdamW(model.TrainableParameters, new AdamWConfig(WeightDecay: config.WeightDecay));
        _ema = new Ema(model.TrainableParameters, config.EmaDecay);
        _clipper = new GradientClipper(model.Network.Backend, config.GradClip);
        _probe = model.Network.Backend.Full(config.GradAccumulation + 1, 0f);
        _probeSlots = [.. Enumerable.Range(0, config.GradAccumulation + 1).Select(i => _probe.Slice(i, 1))];
        _lr = new LearningRateSchedule(config.LearningRate, config.WarmupSteps, config.Decay, config.Steps);
        _lr.Validate();
        _store = outputDirectory is null || _collective.Rank != 0 ? null : new CheckpointStore(outputDirectory);
        _allReduce = _collective.Size > 1 ? new GradientAllReduce(_collective, model.TrainableParameters) : null;
    }

    /// <summary>The stage (1 or 2) its reports name, for a two-stage run; 0 otherwise.</summary>
    public int Stage { get; init; }

    private void Report(TrainingEvent kind, string message) => Report(new TrainingProgress(kind, Step, _config.Steps, message));

    private void Report(TrainingProgress report) => _progress?.Report(report with { Stage = Stage });

    public ITrainableModel Model { get; }

    public Ema Ema => _ema;

    /// <summary>Raised after each optimizer step with the step number (after logging, evaluation and checkpointing).</summary>
    public event Action<int>? StepCompleted;

    /// <summary>Steps completed (restored by <see cref="Resume"/>).</summary>
    public int Step { get; private set; }

    /// <summary>The last validation NELBO in nats per token (EMA weights), or NaN before the first evaluation.</summary>
    public double LastValidationNelbo { get; private set; } = double.NaN;

    /// <summary>The data-parallel gradient all-reduce (null with one rank): its time counters feed the benchmark.</summary>
    public GradientAllReduce? AllReduce => _allReduce;

    /// <summary>
    /// Continues from the checkpoint in the output directory. The saved config must match this run's except for the
    /// <see cref="TrainerOptions.ExtendableKeys"/> (so a finished run can be extended with a larger <c>steps</c>). With
    /// several ranks every rank calls it: rank 0 loads and broadcasts weights, optimizer, EMA and step to the others.
    /// </summary>
    public void Resume()
    {
        if (_collective.Rank == 0)
        {
            var store = _store ?? throw new InvalidOperationException("Resume needs an output directory.");
            var loader = new CheckpointStore(store.Directory) { Warn = m => Report(TrainingEvent.Warning, m) };
            int saved = loader.ReadState().Step;
            if (saved > _config.Steps)
            {
                throw new ArgumentException($"The checkpoint in {store.Directory} is at step {saved} but this run has steps = {_config.Steps}: pass --steps {saved} or more to continue it.");
            }
            var state = loader.Load(Model.Network, _optimizer, _ema, _config.RunConfig, _config.ExtendableKeys, _config.Defaults);
            Step = state.Step;
            Report(TrainingEvent.Note, $"resumed from {store.Directory} at step {Step} of {_config.Steps}");
        }
        if (_collective.Size > 1)
        {
            Step = DataParallel.BroadcastState(_collective, Model.Network, _optimizer, _ema, Step);
        }
        _savedStep = Step;
    }

    /// <summary>Trains until <see cref="TrainerOptions.Steps"/>, reporting, evaluating and checkpointing on the way.</summary>
    public void Run(CancellationToken cancel = default)
    {
        var c = _config;
        long tokensPerStep = (long)c.Batch * c.Length * c.GradAccumulation * _collective.Size; // the whole job's
        var clock = Stopwatch.StartNew();
        double reduceMark = _allReduce?.CollectiveSeconds ?? 0, logMark = 0;
        _stopAgreed = false; // every rank calls Run, so every rank forgets an earlier stop alike
        int firstStep = Step;
        double lossSum = 0, nelboSum = 0;
        int logged = 0;
        _pendingNelbo.Clear();
        while (Step < c.Steps && !(_allReduce is null ? cancel.IsCancellationRequested : _stopAgreed))
        {
            Step++;
            var (loss, nelbo) = TrainStep(cancel);
            lossSum += loss;
            logged++;
            bool logDue = Step % c.LogEvery == 0 || Step == c.Steps;
            if (_allReduce is not null)
            {
                nelboSum += nelbo;
            }
            else if (logDue)
            {
                // The NELBOs kept on the device since the last log line, read now, summed in step order as before.
                foreach (var micros in _pendingNelbo)
                {
                    double stepNelbo = 0;
                    foreach (var read in micros)
                    {
                        stepNelbo += read() / c.GradAccumulation;
                    }
                    nelboSum += stepNelbo;
                }
                _pendingNelbo.Clear();
            }
            if (logDue)
            {
                double seconds = clock.Elapsed.TotalSeconds;
                double rate = (Step - firstStep) * tokensPerStep / Math.Max(seconds, 1e-9);
                double eta = (c.Steps - Step) * tokensPerStep / Math.Max(rate, 1e-9);
                double meanLoss = lossSum / logged, meanNelbo = nelboSum / logged, lr = _lr.At(Step), norm = _clipper.LastNorm;
                Report(new TrainingProgress(TrainingEvent.Step, Step, c.Steps, string.Create(CultureInfo.InvariantCulture,
                    $"step {Step,6}/{c.Steps}  loss {meanLoss,7:F4}  nelbo {meanNelbo,7:F4} nats/tok ({meanNelbo / Math.Log(2),6:F4} bits)  lr {lr:E2}  grad-norm {norm,7:F3}  {rate,8:F0} tok/s  eta {TimeSpan.FromSeconds(eta):hh\\:mm\\:ss}{Ranks(seconds, ref reduceMark, ref logMark)}"))
                {
                    Loss = meanLoss,
                    Nelbo = meanNelbo,
                    LearningRate = lr,
                    GradientNorm = norm,
                    TokensPerSecond = rate,
                    Remaining = TimeSpan.FromSeconds(Math.Min(eta, TimeSpan.MaxValue.TotalSeconds / 2)),
                });
                lossSum = nelboSum = 0;
                logged = 0;
            }
            bool evalDue = (c.EvalEvery > 0 && Step % c.EvalEvery == 0) || Step == c.Steps;
            bool checkpointDue = (c.CheckpointEvery > 0 && Step % c.CheckpointEvery == 0) || Step == c.Steps;
            if (evalDue && _collective.Rank == 0)
            {
                var eval = Validate();
                LastValidationNelbo = eval.NatsPerToken;
                Report(new TrainingProgress(TrainingEvent.Evaluation, Step, c.Steps, string.Create(CultureInfo.InvariantCulture,
                    $"eval  step {Step,6}  validation nelbo {eval.NatsPerToken:F4} ± {eval.StandardError:F4} nats/tok = {eval.BitsPerToken:F4} bits/tok (EMA weights, {c.EvalSequences} sequences × {EvalDraws} draws){(eval.DescribeTerms() is { Length: > 0 } t ? $"; {t}" : "")}{(eval.DescribeStatistics() is { Length: > 0 } st ? $"; {st}" : "")}"))
                {
                    Validation = eval,
                });
            }
            if (_store is not null && checkpointDue)
            {
                string dir = _store.Save(Model.Network, _optimizer, _ema,
                    new CheckpointStore.State(c.RunConfig, Step, _optimizer.StepCount, _ema.Updates, c.Seed));
                _savedStep = Step;
                Report(new TrainingProgress(TrainingEvent.Checkpoint, Step, c.Steps, $"checkpoint {dir}") { Checkpoint = dir });
            }
            if (_allReduce is not null && (evalDue || checkpointDue))
            {
                _collective.Barrier(); // the other ranks wait while rank 0 evaluates and writes
            }
            StepCompleted?.Invoke(Step);
        }
        DropPendingNelbo(); // stopped between log lines: free the device copies
        if ((_allReduce is null ? cancel.IsCancellationRequested : _stopAgreed) && _store is not null && Step > 0 && Step != _savedStep)
        {
            // Stopped early (Ctrl+C or a caller's token): keep what was trained.
            string dir = _store.Save(Model.Network, _optimizer, _ema, new CheckpointStore.State(c.RunConfig, Step, _optimizer.StepCount, _ema.Updates, c.Seed));
            _savedStep = Step;
            Report(new TrainingProgress(TrainingEvent.Checkpoint, Step, c.Steps, $"stopped at step {Step}; checkpoint saved") { Checkpoint = dir });
        }
    }

    /// <summary>One optimizer step over GradAccumulation micro-batches; returns (loss, NELBO) in nats per token.</summary>
    private (double Loss, double Nelbo) TrainStep(CancellationToken cancel)
    {
        var c = _config;
        var tokens = new int[c.Batch * c.Length];
        double loss = 0, nelbo = 0;
        var micros = new Func<double>[c.GradAccumulation];
        Model.Network.Train();
        for (int micro = 0; micro < c.GradAccumulation; micro++)
        {
            long index = ((long)(Step - 1) * _collective.Size + _collective.Rank) * c.GradAccumulation + micro; // this rank's shard
            _data.TrainBatch(c.Seed, index, c.Batch, tokens);
            using var tape = Tape.Begin();
            var dropout = new DropoutRng(c.Seed, (ulong)index);
            var result = Model.Loss(tokens, c.Batch, c.Length, c.Seed, index, dropout);
            ScaleOp.Apply(result.Value, 1f / c.GradAccumulation).Backward();
            if (_allReduce is null)
            {
                // Kept on the device (an exact copy) and read with the gradient norm, once per step.
                Model.Network.Backend.Axpby(1f, result.Value.Data, 0f, _probeSlots[micro]);
            }
            else
            {
                loss += result.Value.Item() / c.GradAccumulation;
            }
            if (_allReduce is null)
            {
                micros[micro] = result.DeferNelboPerToken(); // read when the loop logs
            }
            else
            {
                nelbo += result.NelboPerToken() / c.GradAccumulation;
            }
        }
        if (_allReduce is null)
        {
            _pendingNelbo.Add(micros);
        }
        if (_allReduce is not null)
        {
            // Mean over ranks of the gradients (and of the logged loss), before clipping: every rank then steps alike.
            (loss, nelbo, _stopAgreed) = _allReduce.Reduce(loss, nelbo, cancel.IsCancellationRequested);
        }
        _clipper.Clip(Model.TrainableParameters.Select(np => np.Parameter));
        double norm;
        if (_allReduce is null)
        {
            // One device→host read per step for the divergence guard: every micro-batch's loss and the norm together.
            Model.Network.Backend.Axpby(1f, _clipper.NormSquared, 0f, _probeSlots[c.GradAccumulation]);
            var probe = _probe.ToArray();
            for (int micro = 0; micro < c.GradAccumulation; micro++)
            {
                loss += probe[micro] / c.GradAccumulation;
            }
            norm = Math.Sqrt(probe[c.GradAccumulation]);
        }
        else
        {
            norm = _clipper.LastNorm;
        }
        GuardDivergence(loss, norm);
        _optimizer.Step(_lr.At(Step));
        Model.Network.ZeroGrad(); // frozen parameters too: a gradient that reached them is dropped
        _ema.Update();
        return (loss, nelbo);
    }

    /// <summary>
    /// The divergence guard, before the optimizer touches the weights: a non-finite loss or gradient norm stops the
    /// run naming the step, the quantity and the tensors (weights first, then gradients) that hold non-finite values.
    /// Nothing is saved, so the last good checkpoint stays the latest one.
    /// </summary>
    private void GuardDivergence(double loss, double norm)
    {
        if (double.IsFinite(loss) && double.IsFinite(norm))
        {
            return;
        }
        static bool Finite(float[] values) => Array.TrueForAll(values, float.IsFinite);
        var weights = Model.Network.NamedParameters().Where(np => !Finite(np.Parameter.ToArray())).Select(np => np.Name).ToList();
        var grads = Model.TrainableParameters.Where(np => np.Parameter.Grad is { } g && !Finite(g.ToArray())).Select(np => np.Name).ToList();
        string culprit = weights.Count > 0 ? $"non-finite weights in {Names(weights)}"
            : grads.Count > 0 ? $"non-finite gradients of {Names(grads)}" : "no weight or gradient is non-finite (an overflow in the forward pass)";
        string saved = _store is { Exists: true } ? $"the last good checkpoint, step {_store.ReadState().Step} in {_store.Directory}, is kept" : "no checkpoint was saved yet";
        throw new TrainingDivergedException(string.Create(CultureInfo.InvariantCulture,
            $"training diverged at step {Step}: loss {loss}, gradient norm {norm}; {culprit}; {saved}. Lower learning_rate, raise warmup_steps or check the data."));
    }

    private static string Names(List<string> names) =>
        string.Join(", ", names.Take(5).Select(n => $"'{n}'")) + (names.Count > 5 ? $" and {names.Count - 5} more" : "");

    /// <summary>
    /// Validation NELBO with the EMA weights, averaged over <see cref="EvalDraws"/> fixed draws of (t, masks) per
    /// sequence: the 1/t-weighted estimator is heavy-tailed, and one draw can sit well off the mean.
    /// </summary>
    public NelboEstimate Validate()
    {
        var c = _config;
        _ema.SwapInto();
        Model.Network.Eval();
        try
        {
            return NelboEvaluator.ValidationNelbo(Model, _data.Validation(c.EvalSequences), c.Batch, c.Seed ^ 0xE7A1UL, EvalDraws);
        }
        finally
        {
            Model.Network.Train();
            _ema.SwapInto();
        }
    }

    /// <summary>"  ranks K  all-reduce P%" for the progress line (the share of the interval spent in the all-reduce); "" for one rank.</summary>
    private string Ranks(double seconds, ref double reduceMark, ref double logMark)
    {
        if (_allReduce is null)
        {
            return "";
        }
        double now = _allReduce.CollectiveSeconds;
        string text = string.Create(CultureInfo.InvariantCulture,
            $"  ranks {_collective.Size}  all-reduce {100 * (now - reduceMark) / Math.Max(seconds - logMark, 1e-9):F1}%");
        (reduceMark, logMark) = (now, seconds);
        return text;
    }

    /// <summary>Draws per validation sequence.</summary>
    public const int EvalDraws = 4;

    /// <summary>The validation NELBO in nats per token (see <see cref="Validate"/>).</summary>
    public double ValidationNelbo() => Validate().NatsPerToken;

    /// <summary>
    /// Overwrites every network parameter that the checkpoint in <paramref name="directory"/> holds with its EMA
    /// weights (its weights when it has no EMA) and says in the log what was loaded and what kept its initialisation.
    /// </summary>
    private void LoadInitialWeights(string directory)
    {
        // InitPrefix: FUJI stage 2 takes only the MM-DiT ("denoiser.") from its stage-1 checkpoint (its encoder is frozen, not in the network).
        var init = new CheckpointStore(directory).LoadInitialWeights(Model.Network, _config.InitPrefix);
        long loaded = Model.Network.NamedParameters().Where(np => init.Loaded.Contains(np.Name)).Sum(np => (long)np.Parameter.Shape.Elements);
        Report(TrainingEvent.Note, string.Create(CultureInfo.InvariantCulture,
            $"init: {init.Loaded.Count} tensors ({loaded:N0} parameters) from {init.Source} (step {init.Step}); kept their initialisation: {Summarise(init.Kept)}"));
    }

    /// <summary>Names grouped by their top-level module ("prior.* (12)"), so the log line stays short.</summary>
    private static string Summarise(IReadOnlyList<string> names) => names.Count == 0 ? "none"
        : string.Join(", ", names.GroupBy(n => n.Split('.')[0]).Select(g => g.Count() == 1 ? g.First() : $"{g.Key}.* ({g.Count()})"));

    /// <summary>Reads (and so frees) the deferred NELBOs no log line will use.</summary>
    private void DropPendingNelbo()
    {
        foreach (var micros in _pendingNelbo)
        {
            foreach (var read in micros)
            {
                read?.Invoke();
            }
        }
        _pendingNelbo.Clear();
    }

    public void Dispose()
    {
        DropPendingNelbo(); // a step that threw (divergence) may have left some
        _optimizer.Dispose();
        _ema.Dispose();
        _clipper.Dispose();
        _probe.Dispose();
        Model.Dispose();
        _arena?.Dispose(); // after the model: its parameters' weights are slices of it
    }
}
