namespace Lddm.Training.Data.Text;

/// <summary>
/// A token stream cut into N = ⌊n / L⌋ contiguous, non-overlapping sequences of length L (sequence k is
/// tokens[kL .. kL + L)); the last n mod L tokens are dropped and reported in <see cref="DroppedTokens"/>.
/// Batches visit the sequences in an order shuffled per epoch, reproducible from (seed, epoch).
/// </summary>
public sealed class PackedSequences
{
    private readonly int[] _tokens;

    public PackedSequences(ReadOnlySpan<int> tokens, int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        if (tokens.Length < length)
        {
            throw new ArgumentException($"A stream of {tokens.Length} tokens holds no sequence of length {length}.", nameof(tokens));
        }
        Length = length;
        Count = tokens.Length / length;
        DroppedTokens = tokens.Length - Count * length;
        _tokens = tokens[..(Count * length)].ToArray();
    }

    /// <summary>Sequence length L.</summary>
    public int Length { get; }

    /// <summary>Number of whole sequences N.</summary>
    public int Count { get; }

    /// <summary>Tokens at the end of the stream that did not fill a sequence.</summary>
    public int DroppedTokens { get; }

    /// <summary>Sequence k (0 ≤ k &lt; N).</summary>
    public ReadOnlySpan<int> Sequence(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(k, Count);
        return _tokens.AsSpan(k * Length, Length);
    }

    /// <summary>A permutation of 0..N−1 (Fisher–Yates) that depends only on (seed, epoch).</summary>
    public int[] EpochOrder(ulong seed, int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        var order = new int[Count];
        for (int i = 0; i < Count; i++)
        {
            order[i] = i;
        }
        var rng = SplitMix64.ForIndex(seed, (ulong)epoch);
        for (int i = Count - 1; i > 0; i--)
        {
            int j = (int)(rng.NextUInt64() % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>Number of full batches per epoch; the N mod B sequences left over are skipped that epoch.</summary>
    public int BatchesPerEpoch(int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return Count / batchSize;
    }

    /// <summary>
    /// The full batches of one epoch as row-major [B, L] arrays, in the shuffled order of
    /// <see cref="EpochOrder"/>. Different epochs see the leftover sequences differently, so none is lost for good.
    /// </summary>
    public IEnumerable<int[]> Batches(ulong seed, int epoch, int batchSize)
    {
        int batches = BatchesPerEpoch(batchSize);
        if (batches == 0)
        {
            throw new ArgumentException($"Batch size {batchSize} exceeds the {Count} packed sequences.", nameof(batchSize));
        }
        var order = EpochOrder(seed, epoch);
        return Enumerate(order, batches, batchSize);
    }

    private IEnumerable<int[]> Enumerate(int[] order, int batches, int batchSize)
    {
        for (int b = 0; b < batches; b++)
        {
            var batch = new int[batchSize * Length];
            for (int r = 0; r < batchSize; r++)
            {
                Sequence(order[b * batchSize + r]).CopyTo(batch.AsSpan(r * Length, Length));
            }
            yield return batch;
        }
    }
}
