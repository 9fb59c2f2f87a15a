namespace Lddm.Kernels.Reference;

/// <summary>Slow, obviously correct float64 softmax and log-softmax over the last axis of (rows, cols).</summary>
public static class SoftmaxReference
{
    /// <summary>log softmax of one row; a row of all −∞ is uniform (−log n), as the kernels define it.</summary>
    public static double[] LogSoftmaxRow(ReadOnlySpan<float> x)
    {
        double m = double.NegativeInfinity;
        foreach (float v in x)
        {
            m = Math.Max(m, v);
        }
        var y = new double[x.Length];
        if (double.IsNegativeInfinity(m))
        {
            Array.Fill(y, -Math.Log(x.Length));
            return y;
        }
        double s = 0;
        foreach (float v in x)
        {
            s += Math.Exp(v - m);
        }
        double lse = m + Math.Log(s);
        for (int j = 0; j < x.Length; j++)
        {
            y[j] = x[j] - lse;
        }
        return y;
    }

    public static double[] LogSoftmax(ReadOnlySpan<float> x, int rows, int cols)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            LogSoftmaxRow(x.Slice(r * cols, cols)).CopyTo(y, r * cols);
        }
        return y;
    }

    public static double[] Softmax(ReadOnlySpan<float> x, int rows, int cols) =>
        LogSoftmax(x, rows, cols).Select(Math.Exp).ToArray();

    /// <summary>dx + y·(dy − Σ dy·y), row by row.</summary>
    public static double[] SoftmaxBackward(ReadOnlySpan<double> y, ReadOnlySpan<float> dy, ReadOnlySpan<float> dx, int rows, int cols)
    {
        var result = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int j = 0; j < cols; j++)
            {
                s += (double)dy[r * cols + j] * y[r * cols + j];
            }
            for (int j = 0; j < cols; j++)
            {
                int i = r * cols + j;
                result[i] = dx[i] + y[i] * (dy[i] - s);
            }
        }
        return result;
    }

    /// <summary>dx + dy − exp(y)·Σ dy, row by row (y is the log-softmax output).</summary>
    public static double[] LogSoftmaxBackward(ReadOnlySpan<double> y, ReadOnlySpan<float> dy, ReadOnlySpan<float> dx, int rows, int cols)
    {
        var result = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int j = 0; j < cols; j++)
            {
                s += dy[r * cols + j];
            }
            for (int j = 0; j < cols; j++)
            {
                int i = r * cols + j;
                result[i] = dx[i] + dy[i] - Math.Exp(y[i]) * s;
            }
        }
        return result;
    }
}
