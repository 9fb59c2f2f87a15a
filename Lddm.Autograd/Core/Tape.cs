namespace Lddm.Autograd;

/// <summary>
/// The explicit reverse-mode tape of one forward pass: the nodes in execution order and every temporary tensor
/// the ops created. <c>using var tape = Tape.Begin();</c> then <c>loss.Backward()</c> walks the nodes once in
/// reverse; disposing the tape frees all temporaries (and their gradients), returning the buffer pool to where it
/// was before the step. Tapes nest per thread; outside any tape, ops record nothing and the caller owns outputs.
/// </summary>
public sealed class Tape : IDisposable
{
    [ThreadStatic]
    private static Tape? t_current;

    private readonly Tape? _previous;
    private readonly List<Node> _nodes = new();
    private readonly List<IDisposable> _owned = new();
    private bool _walked;
    private bool _disposed;

    private Tape(Tape? previous) => _previous = previous;

    /// <summary>The innermost active tape on this thread, or null.</summary>
    public static Tape? Current => t_current;

    /// <summary>Starts recording on this thread.</summary>
    public static Tape Begin()
    {
        var tape = new Tape(t_current);
        t_current = tape;
        return tape;
    }

    /// <summary>Number of recorded nodes (for tests and diagnostics).</summary>
    public int Count => _nodes.Count;

    internal void Add(Node node) => _nodes.Add(node);

    /// <summary>Registers a temporary for disposal with the current tape (no-op outside a tape).</summary>
    internal static T Track<T>(T tensor) where T : IDisposable
    {
        t_current?._owned.Add(tensor);
        return tensor;
    }

    internal static void Backward(Tensor loss, float[]? seed)
    {
        if (seed is null && loss.Shape.Elements != 1)
        {
            throw new InvalidOperationException($"Backward() needs a one-element loss but the shape is {loss.Shape}.");
        }
        if (loss.Creator is null)
        {
            throw new InvalidOperationException(
                "Backward(): the loss was not recorded. Run the forward pass inside 'using var tape = Tape.Begin();', " +
                "outside Grad.Off(), with at least one input or parameter that requires a gradient.");
        }
        var tape = t_current ?? throw new InvalidOperationException("Backward(): no active tape on this thread.");
        tape.Walk(loss, seed);
    }

    private void Walk(Tensor loss, float[]? seed)
    {
        if (_walked)
        {
            throw new InvalidOperationException("Backward() was already called on this tape: it walks the tape once.");
        }
        _walked = true;
        if (seed is null)
        {
            loss.GradData().Fill(1f);
        }
        else
        {
            loss.GradData().CopyFrom(seed);
        }
        for (int i = _nodes.Count - 1; i >= 0; i--)
        {
            var node = _nodes[i];
            if (node.Output.Grad is { } g)
            {
                node.Backward(g);
            }
        }
        _nodes.Clear();
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (!ReferenceEquals(t_current, this))
        {
            throw new InvalidOperationException("Tapes must be disposed in reverse order of Begin().");
        }
        t_current = _previous;
        _nodes.Clear();
        foreach (var t in _owned)
        {
            t.Dispose();
        }
        _owned.Clear();
    }
}
