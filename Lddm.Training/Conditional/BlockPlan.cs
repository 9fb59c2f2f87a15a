namespace Lddm.Training.Conditional;

/// <summary>One block of semi-autoregressive decoding: positions [Start, End) of every sequence, in N_b = Steps steps.</summary>
/// <param name="FirstStep">The chain's global step index of the block's first step (the Philox offsets follow it, so
/// one block covering L is exactly the unconditional chain).</param>
public sealed record SamplingBlock(int Start, int End, int Steps, int FirstStep);

/// <summary>
/// The semi-autoregressive driver's plan (LLaDA-style blocks over a fixed-length canvas): positions are generated
/// left to right in blocks of B; each block runs the diffusion sampler with the earlier blocks (and the template's
/// fixed tokens) fixed and the later blocks held at MASK by the unmask kernel's carry-over mask. The N token steps are
/// shared over the blocks that hold a free position — ⌊N/n⌋ each, the first N mod n blocks one more — so every B is
/// compared at equal N (a block also takes its final fill step, as the one-block sampler does). B = L is the ordinary
/// sampler; B = 1 is autoregressive decoding (N ≥ the free positions).
/// </summary>
public sealed class BlockPlan
{
    private BlockPlan(int count, int length, int[] template, int mask, IReadOnlyList<SamplingBlock> blocks)
    {
        Count = count;
        Length = length;
        Template = template;
        Mask = mask;
        Blocks = blocks;
    }

    public int Count { get; }

    public int Length { get; }

    /// <summary>The starting tokens (count·L): fixed ids, MASK = free.</summary>
    public int[] Template { get; }

    public int Mask { get; }

    /// <summary>The blocks that hold a free position, left to right (empty: nothing to generate, no network call).</summary>
    public IReadOnlyList<SamplingBlock> Blocks { get; }

    /// <summary>
    /// The plan for <paramref name="count"/> sequences of <paramref name="length"/> over K = <paramref name="mask"/>
    /// tokens: <paramref name="template"/> (count·L, MASK = free; null = all free), blocks of <paramref name="block"/>
    /// (0 = L), N = <paramref name="steps"/>. Errors name the template position, the block size, or N too small.
    /// </summary>
    public static BlockPlan Create(string owner, int count, int length, int mask, int steps, int[]? template, int block)
    {
        int b = block == 0 ? length : block;
        if (b < 1 || b > length)
        {
            throw new ArgumentOutOfRangeException(nameof(block), block,
                $"{owner}: the semi-autoregressive block must be in [1, L = {length}] (0 = L, one block) but was {block}.");
        }
        var tokens = new int[count * length];
        if (template is null)
        {
            Array.Fill(tokens, mask);
        }
        else
        {
            if (template.Length != tokens.Length)
            {
                throw new ArgumentException(
                    $"{owner}: the template has {template.Length} positions but {count} sequences of length {length} need {tokens.Length}.", nameof(template));
            }
            for (int i = 0; i < template.Length; i++)
            {
                if ((uint)template[i] > (uint)mask)
                {
                    throw new ArgumentOutOfRangeException(nameof(template), template[i],
                        $"{owner}: template[{i}] = {template[i]} is neither a token id in [0, {mask}) nor free (MASK = {mask}).");
                }
            }
            template.CopyTo(tokens, 0);
        }
        var active = new List<(int Start, int End)>();
        for (int start = 0; start < length; start += b)
        {
            int end = Math.Min(length, start + b);
            if (HasFree(tokens, count, length, start, end, mask))
            {
                active.Add((start, end));
            }
        }
        if (active.Count > steps)
        {
            throw new ArgumentOutOfRangeException(nameof(steps), steps,
                $"{owner}: N = {steps} steps cannot cover {active.Count} blocks of B = {b} that hold free positions; need N ≥ {active.Count} (or a larger block).");
        }
        var blocks = new List<SamplingBlock>(active.Count);
        int first = 0;
        for (int i = 0; i < active.Count; i++)
        {
            int n = steps / active.Count + (i < steps % active.Count ? 1 : 0);
            blocks.Add(new SamplingBlock(active[i].Start, active[i].End, n, first));
            first += n + 1; // the block's N_b steps and its final fill step
        }
        return new BlockPlan(count, length, tokens, mask, blocks);
    }

    /// <summary>How many blocks of <paramref name="block"/> (0 = L) hold a free position of the stacked templates: the least N.</summary>
    public static int ActiveBlocks(int count, int length, int mask, int[] template, int block) =>
        Create(nameof(BlockPlan), count, length, mask, length, template, block).Blocks.Count; // N = L covers any number of blocks

    /// <summary>Whether the template fixes any position (the carry-over mask is needed then, or with several blocks).</summary>
    public bool AnyFixed => Array.Exists(Template, t => t != Mask);

    /// <summary>
    /// The carry-over mask of <paramref name="block"/> (count·L, 1 = leave as is): the template's fixed positions and
    /// every position outside the block. Null when nothing is kept (one all-free block: the unconditional sampler).
    /// </summary>
    public int[]? Keep(SamplingBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (!AnyFixed && block.Start == 0 && block.End == Length)
        {
            return null;
        }
        var keep = new int[Count * Length];
        for (int s = 0; s < Count; s++)
        {
            for (int i = 0; i < Length; i++)
            {
                int r = s * Length + i;
                keep[r] = i < block.Start || i >= block.End || Template[r] != Mask ? 1 : 0;
            }
        }
        return keep;
    }

    /// <summary>Whether <paramref name="tokens"/> still hold a MASK that <paramref name="keep"/> does not freeze.</summary>
    public static bool AnyFreeMask(ReadOnlySpan<int> tokens, int[]? keep, int mask)
    {
        for (int r = 0; r < tokens.Length; r++)
        {
            if (tokens[r] == mask && (keep is null || keep[r] == 0))
            {
                return true;
            }
        }
        return false;
    }

    private static bool HasFree(int[] tokens, int count, int length, int start, int end, int mask)
    {
        for (int s = 0; s < count; s++)
        {
            if (Array.IndexOf(tokens, mask, s * length + start, end - start) >= 0)
            {
                return true;
            }
        }
        return false;
    }
}
