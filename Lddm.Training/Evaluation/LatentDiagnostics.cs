using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Training.Data;
using Lddm.Training.Encoders;

namespace Lddm.Training.Evaluation;

/// <summary>What an encoder's latents carry, measured on binary sawtooth where the true latent (the shift) is known.</summary>
/// <param name="MeanPatchNorm">Mean ‖y₀‖ per patch (the noise it competes with has norm ≈ √d).</param>
/// <param name="BetweenSequenceStd">Standard deviation of y₀ across sequences, averaged over its P·d coordinates: ≈ 0
/// means every sequence gets the same latent (collapse).</param>
/// <param name="ShiftR2">Held-out R² of a linear probe (ridge) from y₀ to the identifiable part of the shift,
/// (cos 2πS·s, sin 2πS·s) for S saws: 1 = the latent encodes where the saw is, 0 = nothing about it.</param>
public sealed record LatentReport(double MeanPatchNorm, double BetweenSequenceStd, double ShiftR2, int Sequences);

/// <summary>Encoder diagnostics for the "latent collapse?" question of the LDDM experiment (digest §5).</summary>
public static class LatentDiagnostics
{
    /// <summary>
    /// Encodes <paramref name="count"/> fresh sawtooth sequences with their true shifts; fits the probe on the first half
    /// and scores it on the second. The encoder should hold the weights being evaluated (EMA) and be in eval mode.
    /// </summary>
    public static LatentReport Sawtooth(ILatentEncoder encoder, Backend backend, BinarySawtooth generator, int count, ulong seed, int batch = 256)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(generator);
        if (count < 8 || batch < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"Latent diagnostics need ≥ 8 sequences and batch ≥ 1 (got {count}, {batch}).");
        }
        int length = generator.Length, dim = encoder.Patches * encoder.PatchDim;
        var y = new double[count][];
        var shifts = new double[count];
        for (int first = 0; first < count; first += batch)
        {
            int size = Math.Min(batch, count - first);
            var tokens = new int[size * length];
            generator.Generate(seed, first, size, tokens, shifts.AsSpan(first, size));
            using var tape = Tape.Begin();
            using var off = Grad.Off();
            var latent = encoder.Encode(IntTensor.FromArray(backend, tokens, size, length)).ToArray();
            for (int b = 0; b < size; b++)
            {
                y[first + b] = [.. latent.AsSpan(b * dim, dim).ToArray().Select(v => (double)v)];
            }
        }
        double norm = 0;
        foreach (var row in y)
        {
            for (int p = 0; p < encoder.Patches; p++)
            {
                norm += Math.Sqrt(row.AsSpan(p * encoder.PatchDim, encoder.PatchDim).ToArray().Sum(v => v * v));
            }
        }
        double std = 0;
        for (int j = 0; j < dim; j++)
        {
            double mean = y.Average(r => r[j]);
            std += Math.Sqrt(y.Sum(r => (r[j] - mean) * (r[j] - mean)) / (count - 1));
        }
        int saws = generator.Config.NumSaws;
        var targets = shifts.Select(s => new[] { Math.Cos(2 * Math.PI * saws * s), Math.Sin(2 * Math.PI * saws * s) }).ToArray();
        int half = count / 2;
        return new LatentReport(norm / (count * encoder.Patches), std / dim,
            ProbeR2(y[..half], targets[..half], y[half..], targets[half..]), count);
    }

    /// <summary>
    /// Held-out R² (pooled over the target columns) of ridge regression with an intercept; features are standardised
    /// on the training half so the ridge λ = 10⁻³·n acts the same whatever the latents' scale.
    /// </summary>
    public static double ProbeR2(double[][] trainX, double[][] trainY, double[][] testX, double[][] testY)
    {
        int d = trainX[0].Length, k = trainY[0].Length, n = trainX.Length;
        var mean = new double[d];
        var scale = new double[d];
        for (int j = 0; j < d; j++)
        {
            mean[j] = trainX.Average(r => r[j]);
            double sd = Math.Sqrt(trainX.Sum(r => (r[j] - mean[j]) * (r[j] - mean[j])) / n);
            scale[j] = sd > 1e-12 ? 1 / sd : 0; // a constant feature carries nothing
        }
        double[] Features(double[] x)
        {
            var f = new double[d + 1];
            f[d] = 1;
            for (int j = 0; j < d; j++)
            {
                f[j] = (x[j] - mean[j]) * scale[j];
            }
            return f;
        }
        var a = new double[d + 1, d + 1];
        var rhs = new double[d + 1, k];
        for (int i = 0; i < n; i++)
        {
            var f = Features(trainX[i]);
            for (int r = 0; r <= d; r++)
            {
                for (int c = 0; c <= d; c++)
                {
                    a[r, c] += f[r] * f[c];
                }
                for (int c = 0; c < k; c++)
                {
                    rhs[r, c] += f[r] * trainY[i][c];
                }
            }
        }
        for (int r = 0; r < d; r++)
        {
            a[r, r] += 1e-3 * n; // ridge on the weights, not on the intercept
        }
        var w = Solve(a, rhs);
        double sse = 0, sst = 0;
        for (int c = 0; c < k; c++)
        {
            double yMean = testY.Average(r => r[c]);
            for (int i = 0; i < testX.Length; i++)
            {
                var f = Features(testX[i]);
                double prediction = 0;
                for (int r = 0; r <= d; r++)
                {
                    prediction += f[r] * w[r, c];
                }
                sse += (testY[i][c] - prediction) * (testY[i][c] - prediction);
                sst += (testY[i][c] - yMean) * (testY[i][c] - yMean);
            }
        }
        return 1 - sse / sst;
    }

    /// <summary>Gaussian elimination with partial pivoting: A·X = B for a symmetric positive definite A.</summary>
    private static double[,] Solve(double[,] a, double[,] b)
    {
        int n = a.GetLength(0), k = b.GetLength(1);
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++)
            {
                if (Math.Abs(a[r, col]) > Math.Abs(a[pivot, col]))
                {
                    pivot = r;
                }
            }
            for (int c = 0; c < n; c++)
            {
                (a[col, c], a[pivot, c]) = (a[pivot, c], a[col, c]);
            }
            for (int c = 0; c < k; c++)
            {
                (b[col, c], b[pivot, c]) = (b[pivot, c], b[col, c]);
            }
            for (int r = col + 1; r < n; r++)
            {
                double factor = a[r, col] / a[col, col];
                for (int c = col; c < n; c++)
                {
                    a[r, c] -= factor * a[col, c];
                }
                for (int c = 0; c < k; c++)
                {
                    b[r, c] -= factor * b[col, c];
                }
            }
        }
        var x = new double[n, k];
        for (int c = 0; c < k; c++)
        {
            for (int r = n - 1; r >= 0; r--)
            {
                double sum = b[r, c];
                for (int j = r + 1; j < n; j++)
                {
                    sum -= a[r, j] * x[j, c];
                }
                x[r, c] = sum / a[r, r];
            }
        }
        return x;
    }
}
