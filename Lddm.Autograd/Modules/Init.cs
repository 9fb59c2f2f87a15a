using Lddm.Kernels;

namespace Lddm.Autograd;

/// <summary>
/// How a parameter is initialised. Draws use the counter-based RNG with a stream derived from the parameter's
/// dotted name, so a seed gives the same weights on every backend, whatever order modules are built in.
/// </summary>
public abstract record Init
{
    /// <summary>All zeros (adaLN-zero modulation, output heads, biases).</summary>
    public static Init Zeros { get; } = new ConstantInit(0f);

    /// <summary>All ones (LayerNorm gains).</summary>
    public static Init Ones { get; } = new ConstantInit(1f);

    /// <summary>N(0, std²).</summary>
    public static Init Normal(float std) => new NormalInit(std);

    /// <summary>U(−bound, bound).</summary>
    public static Init Uniform(float bound) => new UniformInit(bound);

    /// <summary>Xavier/Glorot uniform: bound √(6 / (fanIn + fanOut)) (DiT's Linear init).</summary>
    public static Init XavierUniform(int fanIn, int fanOut) => new UniformInit(MathF.Sqrt(6f / (fanIn + fanOut)));

    internal abstract void Apply(Backend backend, DeviceBuffer<float> data, ulong seed, ulong stream);

    /// <summary>FNV-1a of the dotted name: the RNG stream of that parameter.</summary>
    internal static ulong StreamOf(string name)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in name)
        {
            h = (h ^ c) * 1099511628211UL;
        }
        return h;
    }

    private sealed record ConstantInit(float Value) : Init
    {
        internal override void Apply(Backend backend, DeviceBuffer<float> data, ulong seed, ulong stream) => data.Fill(Value);
    }

    private sealed record NormalInit(float Std) : Init
    {
        internal override void Apply(Backend backend, DeviceBuffer<float> data, ulong seed, ulong stream) =>
            backend.FillNormal(seed, stream, 0, data, 0f, Std);
    }

    private sealed record UniformInit(float Bound) : Init
    {
        internal override void Apply(Backend backend, DeviceBuffer<float> data, ulong seed, ulong stream)
        {
            // u ∈ [0,1) → (u − ½)·2·bound ∈ [−bound, bound).
            backend.FillUniform(seed, stream, 0, data);
            using var half = backend.Full(1, -0.5f);
            backend.Add(data, half, data);
            backend.Axpby(2f * Bound, data, 0f, data);
        }
    }
}
