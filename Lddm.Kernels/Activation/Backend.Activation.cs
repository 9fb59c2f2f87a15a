namespace Lddm.Kernels;

/// <summary>The pointwise nonlinearity of a bias + activation epilogue.</summary>
public enum Activation
{
    /// <summary>act(u) = u.</summary>
    Identity,

    /// <summary>act(u) = ½·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))), the tanh approximation of GELU.</summary>
    GeluTanh,

    /// <summary>act(u) = u·σ(u) (a.k.a. swish).</summary>
    Silu,
}

public abstract partial class Backend
{
    /// <summary>
    /// y[r, c] = act(x[r, c] + bias[c]) for x, y of shape (rows, cols) and bias of shape (cols), or no bias
    /// when <paramref name="bias"/> is null. Every element of <paramref name="y"/> is written.
    /// <paramref name="y"/> may alias <paramref name="x"/> (in-place epilogue); it must not alias the bias.
    /// </summary>
    public void BiasActivationForward(DeviceBuffer<float> x, DeviceBuffer<float>? bias, int rows, int cols,
        Activation act, DeviceBuffer<float> y)
    {
        const string k = nameof(BiasActivationForward);
        int n = CheckActivationShapes(k, x, bias, rows, cols, act);
        Check.Buffer(this, y, n, k, nameof(y), $"({rows}, {cols})");
        ActivationForwardCore(x, bias, rows, cols, act, y);
    }

    /// <summary>
    /// Backward of <see cref="BiasActivationForward"/>. Recomputes u = x + bias, then ACCUMULATES
    /// dx[r, c] += dy[r, c]·act′(u[r, c]) and, when <paramref name="dbias"/> is not null,
    /// dbias[c] += Σ_r dy[r, c]·act′(u[r, c]). Shapes: x, dy, dx (rows, cols); bias, dbias (cols).
    /// <paramref name="dx"/> must not alias any input; it may be the buffer that will feed the previous layer.
    /// With <paramref name="writeDx"/>, dx = dy·act′(u) instead (0 + the term, as accumulating into zeros) and its old
    /// contents are never read: a fresh buffer needs no zero fill.
    /// </summary>
    public void BiasActivationBackward(DeviceBuffer<float> x, DeviceBuffer<float>? bias, DeviceBuffer<float> dy,
        int rows, int cols, Activation act, DeviceBuffer<float> dx, DeviceBuffer<float>? dbias, bool writeDx = false)
    {
        const string k = nameof(BiasActivationBackward);
        int n = CheckActivationShapes(k, x, bias, rows, cols, act);
        Check.Buffer(this, dy, n, k, nameof(dy), $"({rows}, {cols})");
        Check.Buffer(this, dx, n, k, nameof(dx), $"({rows}, {cols})");
        if (dbias is not null)
        {
            Check.Buffer(this, dbias, cols, k, nameof(dbias), $"({cols})");
        }
        ActivationBackwardCore(x, bias, dy, rows, cols, act, dx, dbias, writeDx);
    }

    protected abstract void ActivationForwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? bias, int rows,
        int cols, Activation act, DeviceBuffer<float> y);

    protected abstract void ActivationBackwardCore(DeviceBuffer<float> x, DeviceBuffer<float>? bias,
        DeviceBuffer<float> dy, int rows, int cols, Activation act, DeviceBuffer<float> dx, DeviceBuffer<float>? dbias,
        bool writeDx);

    private int CheckActivationShapes(string k, DeviceBuffer<float> x, DeviceBuffer<float>? bias, int rows, int cols,
        Activation act)
    {
        Check.Positive(rows, k, nameof(rows));
        Check.Positive(cols, k, nameof(cols));
        if (!Enum.IsDefined(act))
        {
            throw new ArgumentOutOfRangeException(nameof(act), act, $"{k}: 'act' is not a defined Activation.");
        }
        int n = Check.Elements(k, rows, cols);
        Check.Buffer(this, x, n, k, nameof(x), $"({rows}, {cols})");
        if (bias is not null)
        {
            Check.Buffer(this, bias, cols, k, nameof(bias), $"({cols})");
        }
        return n;
    }
}
