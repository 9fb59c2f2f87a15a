namespace Lddm.Autograd;

/// <summary>
/// One recorded op on the tape. Each op is a sealed subclass with a static typed <c>Apply</c> that runs the
/// forward with Backend kernels and records the node with the tensors its backward needs (saved explicitly
/// as fields); <see cref="Backward"/> adds the input gradients given the output's gradient.
/// </summary>
public abstract class Node
{
    /// <summary>The tensor this node produced; its <see cref="Tensor.Grad"/> is the upstream gradient.</summary>
    internal Tensor Output { get; private set; } = null!;

    /// <summary>Op name for error messages and the gradient-check registry.</summary>
    public virtual string Name => GetType().Name;

    /// <summary>Adds ∂L/∂input into each input that requires a gradient, given ∂L/∂output.</summary>
    protected internal abstract void Backward(Tensor gradOutput);

    /// <summary>
    /// Marks <paramref name="output"/> as produced by <paramref name="node"/> from <paramref name="inputs"/>:
    /// the output requires a gradient if any input does, and the node goes on the tape when recording is on.
    /// Returns the output for chaining.
    /// </summary>
    protected static Tensor Record(Node node, Tensor output, params Tensor?[] inputs)
    {
        bool requires = false;
        foreach (var input in inputs)
        {
            requires |= input is { RequiresGrad: true };
        }
        if (requires && Grad.IsEnabled && Tape.Current is { } tape)
        {
            node.Output = output;
            output.RequiresGrad = true;
            output.Creator = node;
            tape.Add(node);
        }
        return output;
    }
}
