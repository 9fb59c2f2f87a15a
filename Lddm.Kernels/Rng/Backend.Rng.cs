using System.Globalization;

namespace Lddm.Kernels;

/// <summary>
/// Counter-based randomness (<see cref="Philox"/>): element i of a fill is a pure function of
/// (seed, stream, offset + i), so a seed gives the same numbers on every backend, for any thread count, and
/// a fill of [0, n) equals a fill of [0, k) followed by one of [k, n) at offset k. Streams separate uses
/// (e.g. one per layer or per purpose); offsets let a caller continue a stream across calls.
/// </summary>
public abstract partial class Backend
{
    /// <summary>dst[i] = <see cref="Philox.Uniform"/>(seed, stream, offset + i) ∈ [0, 1); dst: (n). Bit-identical on every backend.</summary>
    public void FillUniform(ulong seed, ulong stream, long offset, DeviceBuffer<float> dst)
    {
        const string k = nameof(FillUniform);
        CheckRng(k, offset, dst);
        FillUniformCore(seed, stream, offset, dst);
    }

    /// <summary>dst[i] = <see cref="Philox.UniformDouble"/>(seed, stream, offset + i) ∈ [0, 1) with 53 random bits; dst: (n).</summary>
    public void FillUniform(ulong seed, ulong stream, long offset, DeviceBuffer<double> dst)
    {
        const string k = nameof(FillUniform);
        CheckRng(k, offset, dst);
        FillUniformDoubleCore(seed, stream, offset, dst);
    }

    /// <summary>
    /// dst[i] = mean + std·z with z = <see cref="Philox.Normal"/>(seed, stream, offset + i) ~ N(0, 1); dst: (n).
    /// Bit-identical between the CPU backends; on a GPU a value may differ by one float ulp (CORDIC log/cos).
    /// </summary>
    public void FillNormal(ulong seed, ulong stream, long offset, DeviceBuffer<float> dst, float mean = 0f, float std = 1f)
    {
        const string k = nameof(FillNormal);
        Check.Finite(mean, k, nameof(mean));
        Check.Finite(std, k, nameof(std));
        CheckRng(k, offset, dst);
        FillNormalCore(seed, stream, offset, dst, mean, std);
    }

    /// <summary>
    /// Inverted dropout: y[i] = x[i]·keep[i]/(1 − p) with keep[i] = [Uniform(seed, stream, offset + i) ≥ p];
    /// x, y: (n). A dropped element is written as 0 whatever x holds. No mask is stored: the backward pass
    /// recomputes it from the same counter. y may alias x.
    /// </summary>
    public void DropoutForward(DeviceBuffer<float> x, float p, ulong seed, ulong stream, long offset, DeviceBuffer<float> y)
    {
        const string k = nameof(DropoutForward);
        CheckDropout(k, p, offset, x, nameof(x), y, nameof(y));
        DropoutForwardCore(x, p, seed, stream, offset, y);
    }

    /// <summary>
    /// dx[i] += dy[i]·keep[i]/(1 − p), the mask recomputed from (seed, stream, offset + i) exactly as in
    /// <see cref="DropoutForward"/>; dy, dx: (n).
    /// </summary>
    public void DropoutBackward(DeviceBuffer<float> dy, float p, ulong seed, ulong stream, long offset, DeviceBuffer<float> dx)
    {
        const string k = nameof(DropoutBackward);
        CheckDropout(k, p, offset, dy, nameof(dy), dx, nameof(dx));
        DropoutBackwardCore(dy, p, seed, stream, offset, dx);
    }

    /// <summary>The scale a kept element gets: 1/(1 − p) rounded to float, the same on every backend.</summary>
    internal static float DropoutScale(float p) => 1f / (1f - p);

    protected abstract void FillUniformCore(ulong seed, ulong stream, long offset, DeviceBuffer<float> dst);

    protected abstract void FillUniformDoubleCore(ulong seed, ulong stream, long offset, DeviceBuffer<double> dst);

    protected abstract void FillNormalCore(ulong seed, ulong stream, long offset, DeviceBuffer<float> dst, float mean, float std);

    protected abstract void DropoutForwardCore(DeviceBuffer<float> x, float p, ulong seed, ulong stream, long offset, DeviceBuffer<float> y);

    protected abstract void DropoutBackwardCore(DeviceBuffer<float> dy, float p, ulong seed, ulong stream, long offset, DeviceBuffer<float> dx);

    private void CheckRng<T>(string k, long offset, DeviceBuffer<T> dst) where T : unmanaged
    {
        CheckOffset(k, offset);
        Check.Buffer(this, dst, dst?.Length ?? 0, k, nameof(dst), "(n)");
    }

    private static void CheckOffset(string k, long offset)
    {
        if (offset < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                $"{k}: 'offset' must be non-negative but was {offset.ToString(CultureInfo.InvariantCulture)}.");
        }
    }

    private void CheckDropout(string k, float p, long offset, DeviceBuffer<float> input, string inputName,
        DeviceBuffer<float> output, string outputName)
    {
        if (!(p >= 0f && p < 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(p), p,
                $"{k}: 'p' must be in [0, 1) but was {p.ToString(CultureInfo.InvariantCulture)}.");
        }
        CheckOffset(k, offset);
        Check.Buffer(this, input, input?.Length ?? 0, k, inputName, "(n)");
        Check.Buffer(this, output, input!.Length, k, outputName, $"({input.Length})");
    }
}
