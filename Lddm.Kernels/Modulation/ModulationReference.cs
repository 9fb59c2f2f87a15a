namespace Lddm.Kernels.Reference;

/// <summary>
/// Slow, obviously correct float64 versions of the adaLN modulation kernels (tests and benchmarks).
/// Activations (batch, tokens, hidden) row-major; per-sequence vectors (batch, hidden).
/// </summary>
public static class ModulationReference
{
    /// <summary>y = x·(1 + scale[b]) + shift[b].</summary>
    public static double[] ModulateForward(ReadOnlySpan<float> x, ReadOnlySpan<float> shift, ReadOnlySpan<float> scale,
        int batch, int tokens, int hidden)
    {
        var y = new double[x.Length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
                for (int h = 0; h < hidden; h++)
                {
                    int i = (b * tokens + t) * hidden + h, v = b * hidden + h;
                    y[i] = x[i] * (1.0 + scale[v]) + shift[v];
                }
        return y;
    }

    /// <summary>Returns dx0 + dy·(1+scale), dshift0 + Σ_t dy, dscale0 + Σ_t dy·x (the starting values are the prefill).</summary>
    public static (double[] Dx, double[] DShift, double[] DScale) ModulateBackward(ReadOnlySpan<float> x,
        ReadOnlySpan<float> scale, ReadOnlySpan<float> dy, int batch, int tokens, int hidden,
        ReadOnlySpan<float> dx0, ReadOnlySpan<float> dshift0, ReadOnlySpan<float> dscale0)
    {
        var dx = ToDouble(dx0);
        var dshift = ToDouble(dshift0);
        var dscale = ToDouble(dscale0);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
                for (int h = 0; h < hidden; h++)
                {
                    int i = (b * tokens + t) * hidden + h, v = b * hidden + h;
                    dx[i] += dy[i] * (1.0 + scale[v]);
                    dshift[v] += dy[i];
                    dscale[v] += (double)dy[i] * x[i];
                }
        return (dx, dshift, dscale);
    }

    /// <summary>y = residual + gate[b]·x.</summary>
    public static double[] GatedResidualForward(ReadOnlySpan<float> residual, ReadOnlySpan<float> gate,
        ReadOnlySpan<float> x, int batch, int tokens, int hidden)
    {
        var y = new double[x.Length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
                for (int h = 0; h < hidden; h++)
                {
                    int i = (b * tokens + t) * hidden + h;
                    y[i] = residual[i] + (double)gate[b * hidden + h] * x[i];
                }
        return y;
    }

    /// <summary>Returns dresidual0 + dy, dgate0 + Σ_t dy·x, dx0 + dy·gate.</summary>
    public static (double[] DResidual, double[] DGate, double[] Dx) GatedResidualBackward(ReadOnlySpan<float> gate,
        ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int batch, int tokens, int hidden,
        ReadOnlySpan<float> dresidual0, ReadOnlySpan<float> dgate0, ReadOnlySpan<float> dx0)
    {
        var dres = ToDouble(dresidual0);
        var dgate = ToDouble(dgate0);
        var dx = ToDouble(dx0);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
                for (int h = 0; h < hidden; h++)
                {
                    int i = (b * tokens + t) * hidden + h, v = b * hidden + h;
                    dres[i] += dy[i];
                    dgate[v] += (double)dy[i] * x[i];
                    dx[i] += (double)dy[i] * gate[v];
                }
        return (dres, dgate, dx);
    }

    private static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var d = new double[values.Length];
        for (int i = 0; i < d.Length; i++)
        {
            d[i] = values[i];
        }
        return d;
    }
}
