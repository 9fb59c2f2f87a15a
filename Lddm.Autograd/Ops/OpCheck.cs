namespace Lddm.Autograd;

/// <summary>Shape and backend validation for op entry points: errors name the op, the arguments and both shapes.</summary>
internal static class OpCheck
{
    public static void Live(string op, params Tensor?[] tensors)
    {
        foreach (var t in tensors)
        {
            t?.ThrowIfDisposed(op);
        }
    }

    public static void SameBackend(string op, Tensor a, Tensor b, string nameA, string nameB)
    {
        if (!ReferenceEquals(a.Backend, b.Backend))
        {
            throw new ArgumentException($"{op}: '{nameA}' is on {a.Backend.Name} but '{nameB}' is on {b.Backend.Name}.");
        }
    }

    public static void SameShape(string op, Tensor a, Tensor b, string nameA, string nameB)
    {
        Live(op, a, b);
        SameBackend(op, a, b, nameA, nameB);
        if (a.Shape != b.Shape)
        {
            throw new ArgumentException($"{op}: shape mismatch: '{nameA}' is {a.Shape} but '{nameB}' is {b.Shape}.");
        }
    }

    /// <summary>
    /// Checks that <paramref name="b"/> broadcasts over the leading axes of <paramref name="a"/>: b's shape equals
    /// a trailing part of a's shape (e.g. (H) or (T, H) against (B, T, H)).
    /// </summary>
    public static bool Broadcasts(string op, Tensor a, Tensor b, string nameA, string nameB)
    {
        Live(op, a, b);
        SameBackend(op, a, b, nameA, nameB);
        if (a.Shape == b.Shape)
        {
            return false;
        }
        bool ok = b.Shape.Rank <= a.Shape.Rank;
        for (int i = 1; ok && i <= b.Shape.Rank; i++)
        {
            ok = b.Shape[^i] == a.Shape[^i];
        }
        if (!ok)
        {
            throw new ArgumentException(
                $"{op}: shape mismatch: '{nameB}' {b.Shape} does not broadcast over '{nameA}' {a.Shape} (it must equal a's trailing dimensions).");
        }
        return true;
    }

    public static void Rank(string op, Tensor t, string name, int rank)
    {
        Live(op, t);
        if (t.Shape.Rank != rank)
        {
            throw new ArgumentException($"{op}: '{name}' must have rank {rank} but has shape {t.Shape}.");
        }
    }
}
