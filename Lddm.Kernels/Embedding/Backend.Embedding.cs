using System.Buffers;

namespace Lddm.Kernels;

public abstract partial class Backend
{
    /// <summary>
    /// Embedding gather: y[i, :] = table[ids[i], :]. Shapes: ids (count), table (vocab, dim), y (count, dim).
    /// Ids are validated on the host (the call copies the count ints back): an id outside [0, vocab) throws
    /// <see cref="ArgumentOutOfRangeException"/> naming the position and the unknown token id.
    /// </summary>
    public void EmbeddingForward(DeviceBuffer<int> ids, DeviceBuffer<float> table, int count, int vocab, int dim,
        DeviceBuffer<float> y) =>
        EmbeddingForward(ids, table, count, vocab, dim, y, idsValidated: false);

    /// <summary>
    /// <see cref="EmbeddingForward(DeviceBuffer{int}, DeviceBuffer{float}, int, int, int, DeviceBuffer{float})"/>, with
    /// <paramref name="idsValidated"/> true when the caller has already checked on the host that the ids it uploaded
    /// into <paramref name="ids"/> lie in [0, vocab): they are then not copied back (on a GPU, a synchronisation).
    /// Shapes are checked either way.
    /// </summary>
    public void EmbeddingForward(DeviceBuffer<int> ids, DeviceBuffer<float> table, int count, int vocab, int dim,
        DeviceBuffer<float> y, bool idsValidated)
    {
        const string k = nameof(EmbeddingForward);
        CheckEmbedding(k, ids, count, vocab, dim, checkIds: !idsValidated);
        Check.Buffer(this, table, Check.Elements(k, vocab, dim), k, nameof(table), $"(vocab {vocab}, dim {dim})");
        Check.Buffer(this, y, Check.Elements(k, count, dim), k, nameof(y), $"(count {count}, dim {dim})");
        EmbeddingForwardCore(ids, table, count, vocab, dim, y);
    }

    /// <summary>
    /// Embedding scatter-add: dtable[ids[i], :] += dy[i, :] for every i; repeated ids sum all their rows.
    /// Shapes: ids (count), dy (count, dim), dtable (vocab, dim). Accumulates into <paramref name="dtable"/>.
    /// Ids are validated on the host as in <see cref="EmbeddingForward(DeviceBuffer{int}, DeviceBuffer{float}, int, int, int, DeviceBuffer{float})"/>.
    /// </summary>
    public void EmbeddingBackward(DeviceBuffer<int> ids, DeviceBuffer<float> dy, int count, int vocab, int dim,
        DeviceBuffer<float> dtable) =>
        EmbeddingBackward(ids, dy, count, vocab, dim, dtable, idsValidated: false);

    /// <summary>
    /// <see cref="EmbeddingBackward(DeviceBuffer{int}, DeviceBuffer{float}, int, int, int, DeviceBuffer{float})"/>, with
    /// <paramref name="idsValidated"/> true when <paramref name="ids"/> is the very buffer an
    /// <see cref="EmbeddingForward(DeviceBuffer{int}, DeviceBuffer{float}, int, int, int, DeviceBuffer{float}, bool)"/>
    /// call validated (or was told was validated), unchanged since (the autograd op's backward): no second host copy.
    /// </summary>
    public void EmbeddingBackward(DeviceBuffer<int> ids, DeviceBuffer<float> dy, int count, int vocab, int dim,
        DeviceBuffer<float> dtable, bool idsValidated)
    {
        const string k = nameof(EmbeddingBackward);
        CheckEmbedding(k, ids, count, vocab, dim, checkIds: !idsValidated);
        Check.Buffer(this, dy, Check.Elements(k, count, dim), k, nameof(dy), $"(count {count}, dim {dim})");
        Check.Buffer(this, dtable, Check.Elements(k, vocab, dim), k, nameof(dtable), $"(vocab {vocab}, dim {dim})");
        EmbeddingBackwardCore(ids, dy, count, vocab, dim, dtable);
    }

    protected abstract void EmbeddingForwardCore(DeviceBuffer<int> ids, DeviceBuffer<float> table, int count, int vocab,
        int dim, DeviceBuffer<float> y);

    protected abstract void EmbeddingBackwardCore(DeviceBuffer<int> ids, DeviceBuffer<float> dy, int count, int vocab,
        int dim, DeviceBuffer<float> dtable);

    private void CheckEmbedding(string k, DeviceBuffer<int> ids, int count, int vocab, int dim, bool checkIds)
    {
        Check.Positive(count, k, nameof(count));
        Check.Positive(vocab, k, nameof(vocab));
        Check.Positive(dim, k, nameof(dim));
        Check.Buffer(this, ids, count, k, nameof(ids), $"(count {count})");
        if (!checkIds)
        {
            return;
        }
        var host = ArrayPool<int>.Shared.Rent(count);
        try
        {
            ids.CopyTo(host.AsSpan(0, count));
            for (int i = 0; i < count; i++)
            {
                if ((uint)host[i] >= (uint)vocab)
                {
                    throw new ArgumentOutOfRangeException(nameof(ids), host[i],
                        $"{k}: ids[{i}] = {host[i]} is an unknown token id: the table has vocab {vocab} rows [0, {vocab}).");
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(host);
        }
    }
}
