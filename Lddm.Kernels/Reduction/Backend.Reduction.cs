using System.Globalization;

namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// result[0] = (accumulate ? result[0] : 0) + scale·Σᵢ x[i], for x of shape (n) and result of shape (1).
    /// The sum is accurate (vector-lane partials combined in float64 on the CPU; a two-stage grouped tree on
    /// ILGPU) and deterministic: the same input gives bit-identical results, whatever the thread scheduling.
    /// It stays on the device: nothing is copied back to the host.
    /// </summary>
    public void Sum(DeviceBuffer<float> x, DeviceBuffer<float> result, float scale = 1f, bool accumulate = false)
    {
        const string k = nameof(Sum);
        Check.Finite(scale, k, nameof(scale));
        Check.Buffer(this, x, x?.Length ?? 0, k, nameof(x), "(n)");
        Check.Buffer(this, result, 1, k, nameof(result), "(1)");
        SumCore(x!, result, scale, accumulate);
    }

    /// <summary>result[0] = (1/n)·Σᵢ x[i], for x of shape (n), n ≥ 1: <see cref="Sum"/> with scale 1/n.</summary>
    public void Mean(DeviceBuffer<float> x, DeviceBuffer<float> result)
    {
        const string k = nameof(Mean);
        Check.Buffer(this, x, x?.Length ?? 0, k, nameof(x), "(n)");
        if (x!.Length == 0)
        {
            throw new ArgumentException($"{k}: 'x' is empty; the mean of 0 elements is undefined.", nameof(x));
        }
        Check.Buffer(this, result, 1, k, nameof(result), "(1)");
        SumCore(x, result, (float)(1.0 / x.Length), false);
    }

    /// <summary>
    /// Column sums over the leading axis: result[c] = (accumulate ? result[c] : 0) + Σ_r x[r, c], for x of shape
    /// (rows, cols) and result of shape (cols). This is the backward of a bias or broadcast add (accumulate = true
    /// adds into the gradient). Deterministic.
    /// </summary>
    public void SumRows(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> result, bool accumulate)
    {
        const string k = nameof(SumRows);
        CheckRowsCols(k, x, rows, cols);
        Check.Buffer(this, result, cols, k, nameof(result), $"({cols})");
        SumRowsCore(x, rows, cols, result, accumulate);
    }

    /// <summary>
    /// Row sums over the last axis: result[r] = (accumulate ? result[r] : 0) + Σ_c x[r, c], for x of shape
    /// (rows, cols) and result of shape (rows). Deterministic.
    /// </summary>
    public void SumCols(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> result, bool accumulate)
    {
        const string k = nameof(SumCols);
        CheckRowsCols(k, x, rows, cols);
        Check.Buffer(this, result, rows, k, nameof(result), $"({rows})");
        SumColsCore(x, rows, cols, result, accumulate);
    }

    protected abstract void SumCore(DeviceBuffer<float> x, DeviceBuffer<float> result, float scale, bool accumulate);

    protected abstract void SumRowsCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> result, bool accumulate);

    protected abstract void SumColsCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> result, bool accumulate);

    private void CheckRowsCols(string k, DeviceBuffer<float> x, int rows, int cols)
    {
        Check.Positive(rows, k, nameof(rows));
        Check.Positive(cols, k, nameof(cols));
        int n = Check.Elements(k, rows, cols);
        Check.Buffer(this, x, n, k, nameof(x), string.Create(CultureInfo.InvariantCulture, $"({rows}, {cols})"));
    }
}
