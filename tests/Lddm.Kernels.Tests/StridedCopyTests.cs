using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The strided gather/scatter kernels against explicit index arithmetic in float64, on views built by random
/// sequences of transposes, slices and (gather only) broadcasts of random contiguous shapes at random offsets.
/// </summary>
public sealed class StridedCopyTests
{
    /// <summary>A random view of a random base buffer: rank 1–5, sizes 1–6, an offset, then 0–4 view ops.</summary>
    internal static (StridedLayout Layout, int BufferLength) RandomView(Random rng, bool allowBroadcast)
    {
        int rank = rng.Next(1, 6);
        var shape = Enumerable.Range(0, rank).Select(_ => rng.Next(1, 7)).ToArray();
        int pad = rng.Next(0, 4);
        var layout = StridedLayout.Contiguous(shape);
        layout = new StridedLayout(pad, shape, [.. layout.Strides]);
        int buffer = pad + layout.Elements + rng.Next(0, 3);
        for (int op = rng.Next(0, 5); op > 0; op--)
        {
            switch (rng.Next(allowBroadcast ? 3 : 2))
            {
                case 0:
                    layout = layout.SwapAxes(rng.Next(layout.Rank), rng.Next(layout.Rank));
                    break;
                case 1:
                    int axis = rng.Next(layout.Rank), size = layout.Shape[axis];
                    int start = rng.Next(size), length = rng.Next(1, size - start + 1);
                    layout = layout.Slice(axis, start, length);
                    break;
                default:
                    // A broadcast axis of size 2–3 inserted anywhere: stride 0 reads one position several times.
                    int at = rng.Next(layout.Rank + 1);
                    var s = layout.Shape.ToList();
                    var st = layout.Strides.ToList();
                    s.Insert(at, rng.Next(2, 4));
                    st.Insert(at, 0);
                    layout = new StridedLayout(layout.Offset, [.. s], [.. st]);
                    break;
            }
        }
        return (layout, buffer);
    }

    [Property(MaxTest = 60)]
    public void Gather_reads_every_view_element_from_its_strided_position(int seed, bool accumulate)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var (layout, length) = RandomView(rng, allowBroadcast: true);
            var src = Numerics.RandomFloats(rng, length);
            var before = Numerics.RandomFloats(rng, layout.Elements);
            using var ds = backend.Upload<float>(src);
            using var dd = accumulate ? backend.Upload<float>(before) : Numerics.Poisoned(backend, layout.Elements);
            backend.GatherStrided(ds, layout, dd, accumulate);
            Numerics.AssertClose(CopyReference.Gather(src, layout, before, accumulate), dd.ToArray(), accumulate ? 1e-7 : 0,
                $"GatherStrided on {backend.Name}, seed {seed}, {layout}, accumulate {accumulate}");
            Assert.Equal(src, ds.ToArray());
        }
    }

    [Property(MaxTest = 60)]
    public void Scatter_writes_or_adds_exactly_the_view_positions_and_nothing_else(int seed, bool accumulate)
    {
        foreach (var backend in TestBackends.All)
        {
            var rng = new Random(seed);
            var (layout, length) = RandomView(rng, allowBroadcast: false);
            var src = Numerics.RandomFloats(rng, layout.Elements);
            var dst = Numerics.RandomFloats(rng, length);
            using var ds = backend.Upload<float>(src);
            using var dd = backend.Upload<float>(dst);
            backend.ScatterStrided(ds, dd, layout, accumulate);
            Numerics.AssertClose(CopyReference.Scatter(src, layout, dst, accumulate), dd.ToArray(), accumulate ? 1e-7 : 0,
                $"ScatterStrided on {backend.Name}, seed {seed}, {layout}, accumulate {accumulate}");
        }
    }

    [Property(MaxTest = 100)]
    public void Collapsing_keeps_every_element_at_its_position_and_contiguity_means_a_plain_run(int seed)
    {
        var (layout, _) = RandomView(new Random(seed), allowBroadcast: true);
        var (shape, strides) = layout.Collapsed();
        var collapsed = new StridedLayout(layout.Offset, shape, strides);
        Assert.Equal(layout.Elements, collapsed.Elements);
        bool run = true;
        for (int i = 0; i < layout.Elements; i++)
        {
            int p = CopyReference.Position(layout, i);
            Assert.Equal(p, CopyReference.Position(collapsed, i));
            run &= p == layout.Offset + i;
        }
        Assert.Equal(run, layout.IsContiguous);
        Assert.True(layout.Extent >= (layout.Elements == 0 ? layout.Offset : CopyReference.Position(layout, layout.Elements - 1) + 1));
    }

    [Property(MaxTest = 100)]
    public void Injectivity_is_reported_exactly_for_the_generated_views(int seed)
    {
        var (layout, _) = RandomView(new Random(seed), allowBroadcast: true);
        var positions = Enumerable.Range(0, layout.Elements).Select(i => CopyReference.Position(layout, i)).ToList();
        bool distinct = positions.Distinct().Count() == positions.Count;
        // The check is sufficient, and for views made of transposes, slices and broadcasts also necessary.
        Assert.Equal(distinct, layout.IsInjective);
    }

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Bad_views_are_rejected_with_what_is_wrong(string name)
    {
        var backend = TestBackends.Get(name);
        using var small = backend.Allocate<float>(10);
        using var six = backend.Allocate<float>(6);
        var past = new StridedLayout(5, [2, 3], [3, 1]);
        var e = Assert.Throws<ArgumentException>(() => backend.GatherStrided(small, past, six));
        Assert.Contains("reaches element 11", e.Message);
        Assert.Contains("'src' has 10", e.Message);
        var broadcast = new StridedLayout(0, [2, 3], [0, 1]);
        var s = Assert.Throws<ArgumentException>(() => backend.ScatterStrided(six, small, broadcast));
        Assert.Contains("maps two elements to one position", s.Message);
        var wrong = Assert.Throws<ArgumentException>(() => backend.GatherStrided(small, StridedLayout.Contiguous(2, 2), six));
        Assert.Contains("needs 4", wrong.Message);
        var deep = new StridedLayout(0, [.. Enumerable.Repeat(2, 9)], [.. Enumerable.Range(0, 9).Select(d => 1 << (2 * (8 - d)))]);
        using var big = backend.Allocate<float>(deep.Extent);
        using var out512 = backend.Allocate<float>(deep.Elements);
        var r = Assert.Throws<ArgumentException>(() => backend.GatherStrided(big, deep, out512));
        Assert.Contains("9 axes", r.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => StridedLayout.Contiguous(2, 3).Slice(1, 2, 2));
    }
}
