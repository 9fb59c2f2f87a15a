using System.Globalization;

namespace Lddm.Kernels;

/// <summary>
/// Hyper-parameters of one AdamW step (torch.optim.AdamW semantics). <paramref name="Step"/> is the 1-based
/// step count t used by the bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ.
/// </summary>
public readonly record struct AdamWParameters(float LearningRate, float Beta1, float Beta2, float Epsilon, float WeightDecay, int Step)
{
    /// <summary>Throws when a value is out of range: lr ≥ 0, β₁, β₂ ∈ [0, 1), ε &gt; 0, wd ≥ 0, step ≥ 1, all finite.</summary>
    internal void Validate(string kernel)
    {
        Require(float.IsFinite(LearningRate) && LearningRate >= 0, kernel, nameof(LearningRate), LearningRate, "≥ 0");
        Require(Beta1 is >= 0f and < 1f, kernel, nameof(Beta1), Beta1, "in [0, 1)");
        Require(Beta2 is >= 0f and < 1f, kernel, nameof(Beta2), Beta2, "in [0, 1)");
        Require(float.IsFinite(Epsilon) && Epsilon > 0, kernel, nameof(Epsilon), Epsilon, "> 0");
        Require(float.IsFinite(WeightDecay) && WeightDecay >= 0, kernel, nameof(WeightDecay), WeightDecay, "≥ 0");
        if (Step < 1)
        {
            throw new ArgumentOutOfRangeException("p", Step, $"{kernel}: 'Step' must be ≥ 1 (1-based) but was {Step}.");
        }
    }

    private static void Require(bool ok, string kernel, string name, float value, string range)
    {
        if (!ok)
        {
            throw new ArgumentOutOfRangeException("p", value,
                $"{kernel}: '{name}' must be finite and {range} but was {value.ToString(CultureInfo.InvariantCulture)}.");
        }
    }
}

/// <summary>
/// Per-step AdamW constants computed on the host in float64 and passed to the kernels as floats:
/// Decay = 1 − lr·wd, StepSize = lr / (1 − β₁ᵗ), SqrtBc2 = √(1 − β₂ᵗ). Public only because ILGPU's generated
/// kernel code must see the type; built from <see cref="AdamWParameters"/> inside <see cref="Backend.AdamWStep"/>.
/// </summary>
public readonly struct AdamWCoefficients
{
    public readonly float Beta1, Beta2, Decay, StepSize, SqrtBc2, Epsilon;

    internal AdamWCoefficients(in AdamWParameters p)
    {
        double bc1 = 1 - Math.Pow(p.Beta1, p.Step), bc2 = 1 - Math.Pow(p.Beta2, p.Step);
        Beta1 = p.Beta1;
        Beta2 = p.Beta2;
        Decay = (float)(1 - (double)p.LearningRate * p.WeightDecay);
        StepSize = (float)(p.LearningRate / bc1);
        SqrtBc2 = (float)Math.Sqrt(bc2);
        Epsilon = p.Epsilon;
    }
}
