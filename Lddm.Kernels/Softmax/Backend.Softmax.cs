namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// Row softmax over the last axis: y[r, j] = exp(x[r, j] − m_r) / Σ_k exp(x[r, k] − m_r), m_r = max_k x[r, k].
    /// Shapes: x, y (rows, cols). Entries of −∞ get probability 0. A row whose entries are ALL −∞ has no
    /// finite logit to normalise by; it is defined as the limit of equal logits: the uniform row y = 1/cols
    /// (NaN-free). <paramref name="y"/> is fully written.
    /// </summary>
    public void SoftmaxForward(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y)
    {
        CheckRows(nameof(SoftmaxForward), rows, cols, (x, nameof(x)), (y, nameof(y)));
        SoftmaxForwardCore(x, rows, cols, y);
    }

    /// <summary>
    /// Softmax gradient from the saved output: dx[r, j] += y[r, j]·(dy[r, j] − Σ_k dy[r, k]·y[r, k]).
    /// Shapes: y, dy, dx (rows, cols). Accumulates into <paramref name="dx"/>.
    /// </summary>
    public void SoftmaxBackward(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx)
    {
        CheckRows(nameof(SoftmaxBackward), rows, cols, (y, nameof(y)), (dy, nameof(dy)), (dx, nameof(dx)));
        SoftmaxBackwardCore(y, dy, rows, cols, dx);
    }

    /// <summary>
    /// Row log-softmax: y[r, j] = x[r, j] − m_r − log Σ_k exp(x[r, k] − m_r). Shapes: x, y (rows, cols).
    /// −∞ entries give −∞. A row of ALL −∞ is the uniform row of <see cref="SoftmaxForward"/>: y = −log(cols).
    /// <paramref name="y"/> is fully written.
    /// </summary>
    public void LogSoftmaxForward(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y)
    {
        CheckRows(nameof(LogSoftmaxForward), rows, cols, (x, nameof(x)), (y, nameof(y)));
        LogSoftmaxForwardCore(x, rows, cols, y);
    }

    /// <summary>
    /// Log-softmax gradient from the saved output: dx[r, j] += dy[r, j] − exp(y[r, j])·Σ_k dy[r, k].
    /// Shapes: y, dy, dx (rows, cols). Accumulates into <paramref name="dx"/>.
    /// </summary>
    public void LogSoftmaxBackward(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx)
    {
        CheckRows(nameof(LogSoftmaxBackward), rows, cols, (y, nameof(y)), (dy, nameof(dy)), (dx, nameof(dx)));
        LogSoftmaxBackwardCore(y, dy, rows, cols, dx);
    }

    protected abstract void SoftmaxForwardCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y);

    protected abstract void SoftmaxBackwardCore(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx);

    protected abstract void LogSoftmaxForwardCore(DeviceBuffer<float> x, int rows, int cols, DeviceBuffer<float> y);

    protected abstract void LogSoftmaxBackwardCore(DeviceBuffer<float> y, DeviceBuffer<float> dy, int rows, int cols, DeviceBuffer<float> dx);

    /// <summary>Validates positive (rows, cols) and that every buffer holds rows·cols floats.</summary>
    private void CheckRows(string k, int rows, int cols, params (DeviceBuffer<float> Buffer, string Name)[] buffers)
    {
        Check.Positive(rows, k, nameof(rows));
        Check.Positive(cols, k, nameof(cols));
        int n = Check.Elements(k, rows, cols);
        foreach (var (buffer, name) in buffers)
        {
            Check.Buffer(this, buffer, n, k, name, $"(rows {rows}, cols {cols})");
        }
    }
}
