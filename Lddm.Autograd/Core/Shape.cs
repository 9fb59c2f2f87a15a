using System.Collections;
using System.Globalization;

namespace Lddm.Autograd;

/// <summary>An immutable tensor shape: row-major dimensions, outermost first.</summary>
public sealed class Shape : IEquatable<Shape>, IReadOnlyList<int>
{
    private readonly int[] _dims;

    public Shape(params int[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        long n = 1;
        foreach (int d in dims)
        {
            if (d < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(dims), $"Shape {Format(dims)} has a negative dimension.");
            }
            n *= d;
            if (n > int.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(dims), $"Shape {Format(dims)} has more than {int.MaxValue} elements.");
            }
        }
        _dims = (int[])dims.Clone();
        Elements = (int)n;
    }

    /// <summary>Number of elements (product of the dimensions; 1 for a scalar).</summary>
    public int Elements { get; }

    public int Rank => _dims.Length;

    public int Count => _dims.Length;

    /// <summary>Dimension <paramref name="axis"/>; negative axes count from the end.</summary>
    public int this[int axis] => _dims[Axis(axis)];

    /// <summary>The last dimension (1 for a scalar).</summary>
    public int Last => _dims.Length == 0 ? 1 : _dims[^1];

    /// <summary>Product of all dimensions but the last: the number of rows of the matrix view.</summary>
    public int Rows => Last == 0 ? 0 : Elements / Last;

    /// <summary>Normalises a possibly negative axis, with a clear error when out of range.</summary>
    public int Axis(int axis)
    {
        int a = axis < 0 ? axis + _dims.Length : axis;
        if (a < 0 || a >= _dims.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"Axis {axis} is out of range for shape {this}.");
        }
        return a;
    }

    /// <summary>Product of dimensions in [from, to).</summary>
    public int Product(int from, int to)
    {
        int n = 1;
        for (int i = from; i < to; i++)
        {
            n *= _dims[i];
        }
        return n;
    }

    public int[] ToArray() => (int[])_dims.Clone();

    /// <summary>This shape with dimension <paramref name="axis"/> replaced.</summary>
    public Shape With(int axis, int value)
    {
        var d = ToArray();
        d[Axis(axis)] = value;
        return new Shape(d);
    }

    public bool Equals(Shape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);

    public override bool Equals(object? obj) => obj is Shape s && Equals(s);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (int d in _dims)
        {
            h.Add(d);
        }
        return h.ToHashCode();
    }

    public IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)_dims).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _dims.GetEnumerator();

    public override string ToString() => Format(_dims);

    private static string Format(int[] dims) =>
        "(" + string.Join(", ", dims.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")";

    public static bool operator ==(Shape? a, Shape? b) => a is null ? b is null : a.Equals(b);

    public static bool operator !=(Shape? a, Shape? b) => !(a == b);
}
