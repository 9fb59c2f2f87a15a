using Lddm.Autograd;

namespace Lddm.Models;

/// <summary>
/// The counter-based randomness of one forward pass's dropout masks: (seed, stream) fixed for the pass (e.g. the
/// step number as stream), and an element offset that advances past every mask drawn, so no two masks share
/// random numbers and a seed replays the same masks on every backend.
/// </summary>
public sealed class DropoutRng(ulong seed, ulong stream)
{
    private long _offset;

    public ulong Seed { get; } = seed;

    public ulong Stream { get; } = stream;

    /// <summary>Elements consumed so far.</summary>
    public long Offset => _offset;

    /// <summary>Drops each element of x with probability p (scaling the rest by 1/(1−p)); identity when p = 0.</summary>
    public Tensor Apply(Tensor x, float p)
    {
        if (p == 0f)
        {
            return x;
        }
        var y = DropoutOp.Apply(x, p, Seed, Stream, _offset);
        _offset += x.Shape.Elements;
        return y;
    }
}
