namespace Lddm.Autograd;

/// <summary>
/// y[…, :] = table[ids[…], :]: ids of any shape (…) index the rows of a (V, H) table, giving (…, H).
/// ∂table scatter-adds ∂y into the looked-up rows (repeated ids sum). Ids have no gradient; an id outside
/// [0, V) fails with the kernel's error naming the position and the id (or <see cref="IntTensor.FromIds"/>'s, for
/// ids the host checked before uploading them).
/// </summary>
public sealed class EmbeddingOp : Node
{
    private IntTensor _ids = null!;
    private Tensor _table = null!;

    public static Tensor Apply(IntTensor ids, Tensor table)
    {
        const string op = nameof(EmbeddingOp);
        ArgumentNullException.ThrowIfNull(ids);
        ids.ThrowIfDisposed(op);
        OpCheck.Live(op, table);
        if (!ReferenceEquals(ids.Backend, table.Backend))
        {
            throw new ArgumentException($"{op}: 'ids' is on {ids.Backend.Name} but 'table' is on {table.Backend.Name}.");
        }
        if (table.Shape.Rank != 2)
        {
            throw new ArgumentException($"{op}: 'table' must be (vocab, dim) but has shape {table.Shape} (ids {ids.Shape}).");
        }
        int count = ids.Shape.Elements, vocab = table.Shape[0], dim = table.Shape[1];
        var dims = ids.Shape.ToArray().Append(dim).ToArray();
        var y = Tensor.Empty(table.Backend, new Shape(dims));
        if (count > 0 && dim > 0)
        {
            if (vocab == 0)
            {
                throw new ArgumentException($"{op}: 'table' {table.Shape} has no rows to look up ids {ids.Shape} in.");
            }
            // Ids the host checked before uploading them are not copied back to be checked again.
            table.Backend.EmbeddingForward(ids.Data, table.Data, count, vocab, dim, y.Data,
                idsValidated: ids.CheckedBound <= vocab);
        }
        return Record(new EmbeddingOp { _ids = ids, _table = table }, y, table);
    }

    protected internal override void Backward(Tensor gradOutput)
    {
        int count = _ids.Shape.Elements, vocab = _table.Shape[0], dim = _table.Shape[1];
        if (_table.RequiresGrad && count > 0 && dim > 0)
        {
            _ids.ThrowIfDisposed(nameof(EmbeddingOp));
            // The forward validated these very ids, or the host had (ops never write an IntTensor they read).
            _table.Backend.EmbeddingBackward(_ids.Data, gradOutput.Data, count, vocab, dim, _table.GradData(),
                idsValidated: true);
        }
    }
}
