using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Training.Optim;

/// <summary>AdamW hyper-parameters (PyTorch defaults; MDLM uses weight decay 0, LADD 0.03).</summary>
public sealed record AdamWConfig(double Beta1 = 0.9, double Beta2 = 0.999, double Epsilon = 1e-8, double WeightDecay = 0.0)
{
    public void Validate()
    {
        if (Beta1 is < 0 or >= 1 || Beta2 is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Beta1), $"AdamW betas must be in [0, 1): got ({Beta1}, {Beta2}).");
        }
        if (!(Epsilon > 0) || !(WeightDecay >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(Epsilon), $"AdamW needs epsilon > 0 and weight decay ≥ 0: got {Epsilon}, {WeightDecay}.");
        }
    }
}

/// <summary>
/// AdamW over a module's parameters with decoupled weight decay (the <see cref="Backend.AdamWStep"/> kernel,
/// PyTorch's order). Moments live on the device beside the parameters; <see cref="State"/> exposes them for
/// checkpoints. Parameters without a gradient in a step are left untouched (their moments too).
/// When the parameters are exactly a <see cref="ParameterArena"/>'s, the moments are laid out like it and a step in
/// which every parameter has its gradient is one launch over the arena (the same element-wise arithmetic, so the
/// same bits); otherwise, or when some parameter got no gradient, it steps per tensor.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly (string Name, Parameter Parameter, DeviceBuffer<float> M, DeviceBuffer<float> V)[] _slots;
    private readonly ParameterArena? _arena;
    private readonly DeviceBuffer<float>? _flatM, _flatV;

    public AdamW(IEnumerable<(string Name, Parameter Parameter)> parameters, AdamWConfig config)
    {
        config.Validate();
        Config = config;
        var list = parameters.ToArray();
        if (list.Length > 0 && list[0].Parameter.Arena is { } arena && arena.Covers([.. list.Select(np => np.Parameter)]))
        {
            _arena = arena;
            (_flatM, var ms) = arena.Allocate();
            (_flatV, var vs) = arena.Allocate();
            _slots = [.. list.Select((np, i) => (np.Name, np.Parameter, ms[i], vs[i]))];
            return;
        }
        _slots = list.Select(np =>
        {
            var backend = np.Parameter.Backend;
            return (np.Name, np.Parameter, backend.Full(np.Parameter.Shape.Elements, 0f), backend.Full(np.Parameter.Shape.Elements, 0f));
        }).ToArray();
    }

    public AdamWConfig Config { get; }

    /// <summary>Number of steps taken (the bias-correction t of the next step is StepCount + 1).</summary>
    public int StepCount { get; private set; }

    /// <summary>One update with learning rate <paramref name="learningRate"/> for every parameter that has a gradient.</summary>
    public void Step(double learningRate)
    {
        if (!(learningRate >= 0) || double.IsInfinity(learningRate))
        {
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "The learning rate must be finite and ≥ 0.");
        }
        StepCount++;
        var p = new AdamWParameters((float)learningRate, (float)Config.Beta1, (float)Config.Beta2, (float)Config.Epsilon,
            (float)Config.WeightDecay, StepCount);
        if (_arena is not null && _arena.AllGradientsInPlace())
        {
            _arena.Backend.AdamWStep(_arena.Data, _arena.Grads, _flatM!, _flatV!, p);
            return;
        }
        foreach (var (_, parameter, m, v) in _slots)
        {
            if (parameter.Grad is { } g)
            {
                parameter.Backend.AdamWStep(parameter.Data, g.Data, m, v, p);
            }
        }
    }

    /// <summary>The optimizer state by parameter name: first and second moments.</summary>
    public IEnumerable<(string Name, DeviceBuffer<float> M, DeviceBuffer<float> V)> State() =>
        _slots.Select(s => (s.Name, s.M, s.V));

    /// <summary>Restores the step count (moments are restored through <see cref="State"/>'s buffers).</summary>
    public void RestoreStepCount(int steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        StepCount = steps;
    }

    public void Dispose()
    {
        foreach (var (_, _, m, v) in _slots)
        {
            m.Dispose(); // a slice frees nothing
            v.Dispose();
        }
        _flatM?.Dispose();
        _flatV?.Dispose();
    }
}
