using Lddm.Training.Data.Text;

namespace Lddm.Training.Data;

/// <summary>A training data source: fixed-length token sequences over K real tokens (MASK = K is not data).</summary>
public interface ITokenData
{
    /// <summary>K, the number of real tokens.</summary>
    int Vocabulary { get; }

    int Length { get; }

    string Description { get; }

    /// <summary>Fills <paramref name="tokens"/> (batch·Length) with training batch number <paramref name="index"/>.</summary>
    void TrainBatch(ulong seed, long index, int batch, Span<int> tokens);

    /// <summary>The held-out sequences (fixed).</summary>
    IReadOnlyList<int[]> Validation(int maxCount);

    /// <summary>Human-readable form of one sequence (MASK shown as '_').</summary>
    string Decode(ReadOnlySpan<int> tokens);
}

/// <summary>Character-level text: packed contiguous sequences of the training split, shuffled per epoch.</summary>
public sealed class TextData : ITokenData
{
    private readonly PackedSequences _train;
    private readonly PackedSequences _valid;
    private readonly CharVocabulary _vocabulary;

    public TextData(TextSplits splits, int length, string name)
    {
        _vocabulary = CharVocabulary.FromText(splits.Train);
        _train = new PackedSequences(_vocabulary.Encode(splits.Train), length);
        _valid = new PackedSequences(_vocabulary.Encode(splits.Valid), length);
        if (_train.Count == 0 || _valid.Count == 0)
        {
            throw new ArgumentException($"Corpus '{name}' is too small for sequences of length {length}.", nameof(length));
        }
        Length = length;
        Description = $"{name}: {_train.Count} training and {_valid.Count} validation sequences of {length} characters, vocabulary {_vocabulary.Size} + MASK";
    }

    /// <summary>The bundled Moby-Dick corpus.</summary>
    public static TextData MobyDick(int length) => new(TextCorpus.LoadMobyDick(), length, "moby-dick");

    public int Vocabulary => _vocabulary.Size;

    public int Length { get; }

    public string Description { get; }

    public CharVocabulary Characters => _vocabulary;

    public void TrainBatch(ulong seed, long index, int batch, Span<int> tokens)
    {
        int perEpoch = Math.Max(1, _train.Count / batch);
        int epoch = (int)(index / perEpoch);
        var order = _train.EpochOrder(seed, epoch);
        int first = (int)(index % perEpoch) * batch;
        for (int b = 0; b < batch; b++)
        {
            _train.Sequence(order[(first + b) % order.Length]).CopyTo(tokens.Slice(b * Length, Length));
        }
    }

    public IReadOnlyList<int[]> Validation(int maxCount) =>
        Enumerable.Range(0, Math.Min(maxCount, _valid.Count)).Select(k => _valid.Sequence(k).ToArray()).ToList();

    public string Decode(ReadOnlySpan<int> tokens) => _vocabulary.Decode(tokens);
}

/// <summary>The binary sawtooth (digest §7.1): fresh sequences every batch; validation from a separate seed.</summary>
public sealed class SawtoothData(SawtoothConfig config) : ITokenData
{
    private const ulong ValidationSeed = 0x76616C6964UL;

    public BinarySawtooth Generator { get; } = new(config);

    public int Vocabulary => BinarySawtooth.VocabularySize;

    public int Length => config.Length;

    public string Description => $"binary sawtooth: L={config.Length}, {config.NumSaws} saws, scale {config.Scale}";

    public void TrainBatch(ulong seed, long index, int batch, Span<int> tokens)
    {
        Span<double> shifts = new double[batch];
        Generator.Generate(seed, index * batch, batch, tokens, shifts);
    }

    public IReadOnlyList<int[]> Validation(int maxCount) =>
        Enumerable.Range(0, maxCount).Select(i => Generator.Generate(ValidationSeed, i).Tokens).ToList();

    public string Decode(ReadOnlySpan<int> tokens) => string.Concat(tokens.ToArray().Select(t => t switch { 0 => '0', 1 => '1', _ => '_' }));
}
