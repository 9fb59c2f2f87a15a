using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Training.Optim;

/// <summary>
/// Global-norm clipping of every gradient to <see cref="MaxNorm"/>. The norm stays on the device
/// (no host sync per step); <see cref="LastNorm"/> reads it back only when asked (for the progress line).
/// </summary>
public sealed class GradientClipper : IDisposable
{
    private readonly DeviceBuffer<float> _normSquared;

    public GradientClipper(Backend backend, double maxNorm)
    {
        if (!(maxNorm > 0) || double.IsInfinity(maxNorm))
        {
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "The clipping norm must be finite and > 0.");
        }
        MaxNorm = maxNorm;
        _normSquared = backend.Full(1, 0f);
    }

    public double MaxNorm { get; }

    /// <summary>Clips the gradients of <paramref name="parameters"/> that have one.</summary>
    public void Clip(IEnumerable<Parameter> parameters)
    {
        var list = parameters as IReadOnlyList<Parameter> ?? [.. parameters];
        if (list.Count > 0 && list[0].Arena is { } arena && arena.Covers(list) && arena.AllGradientsInPlace())
        {
            // The norm over the gradient slices (one launch for them all on ILGPU, the same bits as per tensor), then
            // one clip over the whole gradient arena (its padding is zero and stays zero).
            arena.Backend.GradNormSquared(arena.GradSlices, _normSquared);
            arena.Backend.ClipByNorm([arena.Grads], _normSquared, (float)MaxNorm);
            return;
        }
        var grads = list.Where(p => p.Grad is not null).Select(p => p.Grad!.Data).ToList();
        if (grads.Count == 0)
        {
            return;
        }
        var backend = grads[0].Backend;
        backend.GradNormSquared(grads, _normSquared);
        backend.ClipByNorm(grads, _normSquared, (float)MaxNorm);
    }

    /// <summary>The squared global norm before the last clip, on the device (one float).</summary>
    internal DeviceBuffer<float> NormSquared => _normSquared;

    /// <summary>The global gradient norm before the last clip (reads one float from the device).</summary>
    public double LastNorm => Math.Sqrt(_normSquared.ToArray()[0]);

    public void Dispose() => _normSquared.Dispose();
}
