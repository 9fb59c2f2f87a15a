using FsCheck.Xunit;
using Lddm.Kernels.Reference;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The ILGPU two-stage column reductions (SumRows, LayerNorm dγ/dβ, activation dbias): row chunks × 32-column
/// blocks, then the chunks folded in order. The per-op property tests cover small shapes; these cover the split itself
/// (every row in exactly one chunk, for a GPU's plan too) and long columns on the simulator.
/// </summary>
public sealed class ColumnReductionTests
{
    [Property(MaxTest = 200)]
    public void The_plan_puts_every_row_in_exactly_one_chunk_and_more_than_one_chunk_when_rows_exceed_8(
        FsCheck.PositiveInt rowsArg, FsCheck.PositiveInt colsArg)
    {
        int rows = 1 + (rowsArg.Get - 1) % 100_000, cols = 1 + (colsArg.Get - 1) % 5000;
        var (colBlocks, chunks, chunkRows) = TestBackends.IlgpuCpu.ColumnReductionPlan(rows, cols);
        Assert.Equal((cols + 31) / 32, colBlocks);
        Assert.True(chunkRows % 8 == 0 && chunkRows >= 8, $"chunk of {chunkRows} rows is not a multiple of the 8 row lanes");
        Assert.True((long)chunks * chunkRows >= rows, $"({rows}, {cols}): {chunks} chunks of {chunkRows} miss rows");
        Assert.True((long)(chunks - 1) * chunkRows < rows, $"({rows}, {cols}): chunk {chunks - 1} is empty");
        Assert.True(rows <= 8 || chunks > 1, $"({rows}, {cols}): one chunk, so the second stage is not exercised");
    }

    [Theory]
    [InlineData(1000, 70)]
    [InlineData(517, 33)]
    [InlineData(64, 257)]
    public void Long_columns_sum_like_the_float64_reference_for_every_column_reduction(int rows, int cols)
    {
        var backend = TestBackends.IlgpuCpu;
        var rng = new Random(rows * 31 + cols);
        var x = Numerics.RandomFloats(rng, rows * cols, 2f);
        var dy = Numerics.RandomFloats(rng, rows * cols);
        var initial = Numerics.RandomFloats(rng, cols);
        string ctx = $"({rows}, {cols}) on {backend.Name}";

        using var bx = backend.Upload<float>(x);
        using var sum = Numerics.Poisoned(backend, cols);
        backend.SumRows(bx, rows, cols, sum, false);
        Numerics.AssertClose(ReductionReference.SumRows(x, rows, cols, []), sum.ToArray(), Numerics.Tolerance(rows),
            "SumRows " + ctx);

        var fwd = LayerNormReference.Forward(LayerNormReference.ToDouble(x), null, null, rows, cols, 1e-5);
        var mean = fwd.Mean.Select(v => (float)v).ToArray();
        var rstd = fwd.Rstd.Select(v => (float)v).ToArray();
        using var bm = backend.Upload<float>(mean);
        using var br = backend.Upload<float>(rstd);
        using var bdy = backend.Upload<float>(dy);
        using var bdx = backend.Full(rows * cols, 0f);
        using var bdg = backend.Upload<float>(initial);
        using var bdb = backend.Upload<float>(initial);
        backend.LayerNormBackward(bx, null, bm, br, bdy, rows, cols, bdx, bdg, bdb);
        var (_, eg, eb) = LayerNormReference.Backward(LayerNormReference.ToDouble(x), null,
            LayerNormReference.ToDouble(mean), LayerNormReference.ToDouble(rstd), LayerNormReference.ToDouble(dy), rows, cols);
        Numerics.AssertClose(eg.Select((v, c) => v + initial[c]).ToArray(), bdg.ToArray(), Numerics.Tolerance(rows),
            "LayerNorm dgamma " + ctx);
        Numerics.AssertClose(eb.Select((v, c) => v + initial[c]).ToArray(), bdb.ToArray(), Numerics.Tolerance(rows),
            "LayerNorm dbeta " + ctx);

        var bias = Numerics.RandomFloats(rng, cols);
        using var bb = backend.Upload<float>(bias);
        using var adx = backend.Full(rows * cols, 0f);
        using var adb = backend.Upload<float>(initial);
        backend.BiasActivationBackward(bx, bb, bdy, rows, cols, Activation.GeluTanh, adx, adb);
        var (_, ab) = ActivationReference.Backward(x, bias, dy, rows, cols, Activation.GeluTanh, new float[rows * cols],
            initial);
        Numerics.AssertClose(ab, adb.ToArray(), Numerics.Tolerance(rows), "activation dbias " + ctx);
    }

    [Fact]
    public void A_column_reduction_gives_the_same_bits_every_time()
    {
        var backend = TestBackends.IlgpuCpu;
        int rows = 300, cols = 45;
        var x = Numerics.RandomFloats(new Random(5), rows * cols);
        using var bx = backend.Upload<float>(x);
        using var a = Numerics.Poisoned(backend, cols);
        using var b = Numerics.Poisoned(backend, cols);
        backend.SumRows(bx, rows, cols, a, false);
        backend.SumRows(bx, rows, cols, b, false);
        Assert.Equal(a.ToArray(), b.ToArray());
    }
}
