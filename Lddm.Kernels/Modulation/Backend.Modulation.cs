namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// adaLN modulation: y[b,t,h] = x[b,t,h]·(1 + scale[b,h]) + shift[b,h].
    /// x, y: (batch, tokens, hidden) row-major; shift, scale: (batch, hidden), one vector per sequence.
    /// <paramref name="y"/> may alias <paramref name="x"/> (each element is read before it is written).
    /// </summary>
    public void ModulateForward(DeviceBuffer<float> x, DeviceBuffer<float> shift, DeviceBuffer<float> scale,
        int batch, int tokens, int hidden, DeviceBuffer<float> y)
    {
        const string k = nameof(ModulateForward);
        var (n, act, vec) = ModulationShapes(k, batch, tokens, hidden);
        Check.Buffer(this, x, n, k, nameof(x), act);
        Check.Buffer(this, shift, (long)batch * hidden, k, nameof(shift), vec);
        Check.Buffer(this, scale, (long)batch * hidden, k, nameof(scale), vec);
        Check.Buffer(this, y, n, k, nameof(y), act);
        ModulateForwardCore(x, shift, scale, batch, tokens, hidden, y);
    }

    /// <summary>
    /// Backward of <see cref="ModulateForward"/>, ACCUMULATING into each gradient that is not null:
    /// dx += dy·(1 + scale[b]); dshift[b,h] += Σ_t dy[b,t,h]; dscale[b,h] += Σ_t dy[b,t,h]·x[b,t,h].
    /// With <paramref name="writeDx"/>, dx = dy·(1 + scale[b]) instead: its old contents are never read (a first
    /// writer's fresh gradient needs no zero fill). Shapes as in the forward. Gradients must not alias the inputs or
    /// each other.
    /// </summary>
    public void ModulateBackward(DeviceBuffer<float> x, DeviceBuffer<float> scale, DeviceBuffer<float> dy,
        int batch, int tokens, int hidden, DeviceBuffer<float>? dx, DeviceBuffer<float>? dshift, DeviceBuffer<float>? dscale,
        bool writeDx = false)
    {
        const string k = nameof(ModulateBackward);
        var (n, act, vec) = ModulationShapes(k, batch, tokens, hidden);
        long m = (long)batch * hidden;
        Check.Buffer(this, x, n, k, nameof(x), act);
        Check.Buffer(this, scale, m, k, nameof(scale), vec);
        Check.Buffer(this, dy, n, k, nameof(dy), act);
        CheckModulationGrad(dx, n, k, nameof(dx), act);
        CheckModulationGrad(dshift, m, k, nameof(dshift), vec);
        CheckModulationGrad(dscale, m, k, nameof(dscale), vec);
        ModulateBackwardCore(x, scale, dy, batch, tokens, hidden, dx, dshift, dscale, writeDx);
    }

    /// <summary>
    /// adaLN-zero gated residual: y[b,t,h] = residual[b,t,h] + gate[b,h]·x[b,t,h].
    /// residual, x, y: (batch, tokens, hidden); gate: (batch, hidden).
    /// <paramref name="y"/> may alias <paramref name="residual"/> or <paramref name="x"/> (in-place residual add).
    /// </summary>
    public void GatedResidualForward(DeviceBuffer<float> residual, DeviceBuffer<float> gate, DeviceBuffer<float> x,
        int batch, int tokens, int hidden, DeviceBuffer<float> y)
    {
        const string k = nameof(GatedResidualForward);
        var (n, act, vec) = ModulationShapes(k, batch, tokens, hidden);
        Check.Buffer(this, residual, n, k, nameof(residual), act);
        Check.Buffer(this, gate, (long)batch * hidden, k, nameof(gate), vec);
        Check.Buffer(this, x, n, k, nameof(x), act);
        Check.Buffer(this, y, n, k, nameof(y), act);
        GatedResidualForwardCore(residual, gate, x, batch, tokens, hidden, y);
    }

    /// <summary>
    /// Backward of <see cref="GatedResidualForward"/>, ACCUMULATING into each gradient that is not null:
    /// dresidual += dy; dgate[b,h] += Σ_t dy[b,t,h]·x[b,t,h]; dx += dy·gate[b].
    /// With <paramref name="writeDresidual"/> / <paramref name="writeDx"/> that gradient is written instead
    /// (dresidual = dy, dx = dy·gate[b]) and its old contents are never read. Gradients must not alias the inputs or
    /// each other.
    /// </summary>
    public void GatedResidualBackward(DeviceBuffer<float> gate, DeviceBuffer<float> x, DeviceBuffer<float> dy,
        int batch, int tokens, int hidden,
        DeviceBuffer<float>? dresidual, DeviceBuffer<float>? dgate, DeviceBuffer<float>? dx,
        bool writeDresidual = false, bool writeDx = false)
    {
        const string k = nameof(GatedResidualBackward);
        var (n, act, vec) = ModulationShapes(k, batch, tokens, hidden);
        long m = (long)batch * hidden;
        Check.Buffer(this, gate, m, k, nameof(gate), vec);
        Check.Buffer(this, x, n, k, nameof(x), act);
        Check.Buffer(this, dy, n, k, nameof(dy), act);
        CheckModulationGrad(dresidual, n, k, nameof(dresidual), act);
        CheckModulationGrad(dgate, m, k, nameof(dgate), vec);
        CheckModulationGrad(dx, n, k, nameof(dx), act);
        GatedResidualBackwardCore(gate, x, dy, batch, tokens, hidden, dresidual, dgate, dx, writeDresidual, writeDx);
    }

    protected abstract void ModulateForwardCore(DeviceBuffer<float> x, DeviceBuffer<float> shift,
        DeviceBuffer<float> scale, int batch, int tokens, int hidden, DeviceBuffer<float> y);

    protected abstract void ModulateBackwardCore(DeviceBuffer<float> x, DeviceBuffer<float> scale,
        DeviceBuffer<float> dy, int batch, int tokens, int hidden,
        DeviceBuffer<float>? dx, DeviceBuffer<float>? dshift, DeviceBuffer<float>? dscale, bool writeDx);

    protected abstract void GatedResidualForwardCore(DeviceBuffer<float> residual, DeviceBuffer<float> gate,
        DeviceBuffer<float> x, int batch, int tokens, int hidden, DeviceBuffer<float> y);

    protected abstract void GatedResidualBackwardCore(DeviceBuffer<float> gate, DeviceBuffer<float> x,
        DeviceBuffer<float> dy, int batch, int tokens, int hidden,
        DeviceBuffer<float>? dresidual, DeviceBuffer<float>? dgate, DeviceBuffer<float>? dx, bool writeDresidual,
        bool writeDx);

    /// <summary>Validates the sizes; returns the activation count and both shapes in words.</summary>
    private static (long N, string Activation, string PerSequence) ModulationShapes(string k, int batch, int tokens, int hidden)
    {
        Check.Positive(batch, k, nameof(batch));
        Check.Positive(tokens, k, nameof(tokens));
        Check.Positive(hidden, k, nameof(hidden));
        long n = Check.Elements(k, batch, tokens, hidden);
        return (n, $"(batch {batch}, tokens {tokens}, hidden {hidden})", $"(batch {batch}, hidden {hidden})");
    }

    /// <summary>A gradient that may be null (not wanted); when given, it is checked like any buffer.</summary>
    private void CheckModulationGrad(DeviceBuffer<float>? buffer, long expected, string k, string name, string shape)
    {
        if (buffer is not null)
        {
            Check.Buffer(this, buffer, expected, k, name, shape);
        }
    }
}
