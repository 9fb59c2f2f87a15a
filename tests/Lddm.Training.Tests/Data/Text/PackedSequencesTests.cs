using Lddm.Training.Data.Text;
using Xunit;

namespace Lddm.Training.Tests.Data.Text;

public sealed class PackedSequencesTests
{
    private static int[] Stream(int n) => Enumerable.Range(0, n).Select(i => i * 7 % 31).ToArray();

    [Theory]
    [InlineData(100, 10)]
    [InlineData(107, 10)]
    [InlineData(5, 5)]
    [InlineData(64, 1)]
    public void SequencesAreContiguousNonOverlappingAndTheTailIsReported(int n, int length)
    {
        var tokens = Stream(n);
        var packed = new PackedSequences(tokens, length);
        Assert.Equal(n / length, packed.Count);
        Assert.Equal(n - packed.Count * length, packed.DroppedTokens);
        for (int k = 0; k < packed.Count; k++)
        {
            Assert.Equal(tokens.AsSpan(k * length, length).ToArray(), packed.Sequence(k).ToArray());
        }
    }

    [Fact]
    public void EpochOrderIsAPermutationReproducibleFromSeedAndEpoch()
    {
        var packed = new PackedSequences(Stream(1000), 10);
        var order = packed.EpochOrder(7, 3);
        Assert.Equal(Enumerable.Range(0, 100), order.Order());
        Assert.Equal(order, packed.EpochOrder(7, 3));
        Assert.NotEqual(order, packed.EpochOrder(7, 4));
        Assert.NotEqual(order, packed.EpochOrder(8, 3));
    }

    [Fact]
    public void BatchesCoverEachSequenceAtMostOncePerEpoch()
    {
        var packed = new PackedSequences(Stream(1030), 10);
        const int batch = 8;
        var seen = new List<int[]>();
        foreach (var rows in packed.Batches(1, 0, batch))
        {
            Assert.Equal(batch * 10, rows.Length);
            for (int r = 0; r < batch; r++)
            {
                seen.Add(rows.AsSpan(r * 10, 10).ToArray());
            }
        }
        Assert.Equal(packed.BatchesPerEpoch(batch) * batch, seen.Count);
        var order = packed.EpochOrder(1, 0);
        for (int i = 0; i < seen.Count; i++)
        {
            Assert.Equal(packed.Sequence(order[i]).ToArray(), seen[i]);
        }
        Assert.Equal(seen.Count, order.Take(seen.Count).Distinct().Count());
    }

    [Fact]
    public void InvalidShapesThrow()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PackedSequences(Stream(10), 0));
        Assert.Throws<ArgumentException>(() => new PackedSequences(Stream(3), 4));
        var packed = new PackedSequences(Stream(40), 10);
        Assert.Throws<ArgumentException>(() => packed.Batches(0, 0, 5).First());
        Assert.Throws<ArgumentOutOfRangeException>(() => packed.Sequence(4));
    }
}
