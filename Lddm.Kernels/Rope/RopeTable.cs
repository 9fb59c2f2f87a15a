using System.Runtime.CompilerServices;

namespace Lddm.Kernels;

/// <summary>
/// cos and sin of a = t·theta^(−2i/D) for t &lt; tokens, i &lt; D/2, computed in float64 and cast once, so the
/// CPU and ILGPU kernels use identical values. Layout: [cos (tokens, D/2) | sin (tokens, D/2)] in one pinned
/// array. The last table is cached: a model calls RoPE with one shape many times per step.
/// </summary>
internal sealed class RopeTable
{
    private static RopeTable? s_last;

    private RopeTable(int tokens, int headDim, float theta)
    {
        Tokens = tokens;
        HeadDim = headDim;
        Theta = theta;
        int half = headDim / 2;
        Values = GC.AllocateUninitializedArray<float>(2 * tokens * half, pinned: true);
        for (int i = 0; i < half; i++)
        {
            double frequency = Math.Pow(theta, -2.0 * i / headDim);
            for (int t = 0; t < tokens; t++)
            {
                double a = t * frequency;
                Values[t * half + i] = (float)Math.Cos(a);
                Values[tokens * half + t * half + i] = (float)Math.Sin(a);
            }
        }
    }

    public int Tokens { get; }

    public int HeadDim { get; }

    public float Theta { get; }

    /// <summary>cos block then sin block, each (tokens, headDim/2).</summary>
    public float[] Values { get; }

    public unsafe float* Cos => (float*)Unsafe.AsPointer(ref Values[0]);

    public unsafe float* Sin => Cos + Tokens * (HeadDim / 2);

    public static RopeTable Get(int tokens, int headDim, float theta)
    {
        var last = Volatile.Read(ref s_last);
        if (last is not null && last.Tokens == tokens && last.HeadDim == headDim && last.Theta == theta)
        {
            return last;
        }
        var table = new RopeTable(tokens, headDim, theta);
        Volatile.Write(ref s_last, table);
        return table;
    }
}
