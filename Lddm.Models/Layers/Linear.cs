using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>
/// y = act(x·W + b) over the last axis. The weight is stored (in, out), row-major — the layout the matmul reads
/// without a transpose (PyTorch stores (out, in): a checkpoint exporter transposes). Default init is DiT's:
/// Xavier uniform weight, zero bias.
/// </summary>
public sealed class Linear : Module
{
    public Linear(Backend backend, int inFeatures, int outFeatures, bool bias = true, Init? weightInit = null, Init? biasInit = null)
        : base(backend)
    {
        In = ConfigCheck.Positive(inFeatures, nameof(Linear), nameof(inFeatures));
        Out = ConfigCheck.Positive(outFeatures, nameof(Linear), nameof(outFeatures));
        Weight = AddParameter("weight", weightInit ?? Init.XavierUniform(In, Out), In, Out);
        Bias = bias ? AddParameter("bias", biasInit ?? Init.Zeros, Out) : null;
    }

    public int In { get; }

    public int Out { get; }

    /// <summary>(in, out).</summary>
    public Parameter Weight { get; }

    /// <summary>(out), or null without bias.</summary>
    public Parameter? Bias { get; }

    /// <summary>
    /// x (…, in) → act(x·W + b) (…, out) as one <see cref="LinearOp"/>: the bias and activation are the GEMM's
    /// epilogue (fused into its tile loop on the CPU).
    /// </summary>
    public Tensor Forward(Tensor x, Activation act = Activation.Identity) => LinearOp.Apply(x, Weight, Bias, act);

    /// <summary>
    /// residual + gate·(x·W + bias) for x (B, T, in), residual (B, T, out), gate (B, out): the layer closing an
    /// adaLN-zero branch, with the gated residual in the GEMM's epilogue (<see cref="GatedLinearOp"/>).
    /// </summary>
    public Tensor ForwardGated(Tensor residual, Tensor gate, Tensor x) => GatedLinearOp.Apply(residual, gate, x, Weight, Bias);
}
