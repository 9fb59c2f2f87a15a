using FsCheck;
using FsCheck.Fluent;

namespace Lddm.Kernels.Tests.Support;

/// <summary>A dimension that straddles vector (8, 16), tile and warp (32) widths.</summary>
public readonly record struct Dim(int Value)
{
    public static implicit operator int(Dim d) => d.Value;

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A small dimension (≤ 33) for kernels that are slow on ILGPU's CPU simulator.</summary>
public readonly record struct SmallDim(int Value)
{
    public static implicit operator int(SmallDim d) => d.Value;

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>FsCheck generators for kernel shapes. Use with <c>[Property(Arbitrary = [typeof(Dims)])]</c>.</summary>
public static class Dims
{
    public static readonly int[] Edges = [1, 7, 15, 16, 17, 31, 33, 63, 65, 127, 129];
    public static readonly int[] SmallEdges = [1, 2, 7, 15, 16, 17, 31, 33];

    public static Arbitrary<Dim> Dim() =>
        Gen.OneOf(Gen.Elements(Edges), Gen.Choose(1, 200)).Select(v => new Dim(v)).ToArbitrary();

    public static Arbitrary<SmallDim> SmallDim() =>
        Gen.OneOf(Gen.Elements(SmallEdges), Gen.Choose(1, 40)).Select(v => new SmallDim(v)).ToArbitrary();
}
