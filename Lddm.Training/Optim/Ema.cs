using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Training.Optim;

/// <summary>
/// Exponential moving average of a module's parameters with diffusers-style warm-up:
/// decay_n = min(d, (1 + n) / (10 + n)) at update n (0-based). Sampling and evaluation use the EMA weights
/// (<see cref="SwapInto"/> exchanges them with the live weights, and a second call swaps back).
/// </summary>
/// <remarks>
/// When the parameters are exactly a <see cref="ParameterArena"/>'s, the shadow is laid out like it and each update or
/// swap is one launch over the arena instead of one per tensor (element-wise, so the same bits).
/// </remarks>
public sealed class Ema : IDisposable
{
    private readonly (string Name, Parameter Parameter, DeviceBuffer<float> Shadow)[] _slots;
    private readonly ParameterArena? _arena;
    private readonly DeviceBuffer<float>? _flatShadow;

    public Ema(IEnumerable<(string Name, Parameter Parameter)> parameters, double decay)
    {
        if (decay is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(decay), decay, "The EMA decay must be in [0, 1).");
        }
        Decay = decay;
        var list = parameters.ToArray();
        if (list.Length > 0 && list[0].Parameter.Arena is { } arena && arena.Covers([.. list.Select(np => np.Parameter)]))
        {
            _arena = arena;
            (_flatShadow, var shadows) = arena.Allocate();
            arena.Backend.Axpby(1f, arena.Data, 0f, _flatShadow);
            _slots = [.. list.Select((np, i) => (np.Name, np.Parameter, shadows[i]))];
            return;
        }
        _slots = list.Select(np =>
        {
            var shadow = np.Parameter.Backend.Allocate<float>(np.Parameter.Shape.Elements);
            np.Parameter.Backend.Axpby(1f, np.Parameter.Data, 0f, shadow);
            return (np.Name, np.Parameter, shadow);
        }).ToArray();
    }

    public double Decay { get; }

    /// <summary>Updates applied so far.</summary>
    public int Updates { get; private set; }

    /// <summary>The decay used by update number <paramref name="n"/> (0-based).</summary>
    public double DecayAt(int n) => Math.Min(Decay, (1.0 + n) / (10.0 + n));

    public void Update()
    {
        float d = (float)DecayAt(Updates);
        if (_arena is not null)
        {
            _arena.Backend.EmaUpdate(_flatShadow!, _arena.Data, d);
            Updates++;
            return;
        }
        foreach (var (_, p, shadow) in _slots)
        {
            p.Backend.EmaUpdate(shadow, p.Data, d);
        }
        Updates++;
    }

    /// <summary>Exchanges the EMA weights and the live weights (call again to swap back).</summary>
    public void SwapInto()
    {
        if (_arena is not null)
        {
            var backend = _arena.Backend;
            using var tmp = backend.Allocate<float>(_arena.Length);
            backend.Axpby(1f, _arena.Data, 0f, tmp);
            backend.Axpby(1f, _flatShadow!, 0f, _arena.Data);
            backend.Axpby(1f, tmp, 0f, _flatShadow!);
            return;
        }
        foreach (var (_, p, shadow) in _slots)
        {
            var backend = p.Backend;
            using var tmp = backend.Allocate<float>(shadow.Length);
            backend.Axpby(1f, p.Data, 0f, tmp);
            backend.Axpby(1f, shadow, 0f, p.Data);
            backend.Axpby(1f, tmp, 0f, shadow);
        }
    }

    /// <summary>The shadow weights by parameter name (for checkpoints).</summary>
    public IEnumerable<(string Name, DeviceBuffer<float> Shadow)> State() => _slots.Select(s => (s.Name, s.Shadow));

    public void RestoreUpdates(int updates)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(updates);
        Updates = updates;
    }

    public void Dispose()
    {
        foreach (var (_, _, shadow) in _slots)
        {
            shadow.Dispose(); // a slice frees nothing
        }
        _flatShadow?.Dispose();
    }
}
