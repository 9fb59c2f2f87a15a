namespace Lddm.Training.Conditional;

/// <summary>The templates of one conditional request as the samplers take them: count·L ids, MASK = free.</summary>
internal static class ConditionalBatch
{
    /// <summary>Stacks the templates after checking they are over the model's K (named in the error).</summary>
    public static (int[] Tokens, int Count, int Length) Of(IReadOnlyList<GenerationTemplate> templates, int vocabulary, string kind)
    {
        ArgumentNullException.ThrowIfNull(templates);
        if (templates.Count == 0)
        {
            throw new ArgumentException($"Conditional generation ({kind}): no templates.", nameof(templates));
        }
        templates[0].CheckFits(templates[0].Length, vocabulary, $"Conditional generation ({kind})");
        return (GenerationTemplate.Stack(templates), templates.Count, templates[0].Length);
    }
}
