using FsCheck.Xunit;
using Lddm.Kernels.Cpu;
using Lddm.Kernels.Tests.Support;
using Xunit;

namespace Lddm.Kernels.Tests;

/// <summary>
/// The CPU worker pool splits each kernel call by a static partition, and the kernels that promise determinism across
/// thread counts must give the same bits on 1, 2 and 3 threads (fresh random inputs and shapes per case, large enough
/// that every thread gets work). Thread-count-dependent partial sums (LayerNorm's dγ/dβ, the bias-activation db) are
/// only promised deterministic for one thread count: those are checked by running twice on the same backend.
/// </summary>
public sealed class ThreadCountTests : IDisposable
{
    private readonly CpuBackend[] _backends = [new CpuBackend(1), new CpuBackend(2), new CpuBackend(3)];

    public void Dispose()
    {
        foreach (var b in _backends)
        {
            b.Dispose();
        }
    }

    [Fact]
    public void Thread_count_is_a_setting_of_each_backend_not_of_the_process()
    {
        Assert.Equal([1, 2, 3], _backends.Select(b => b.Threads));
        using var later = new CpuBackend(5);
        Assert.Equal([1, 2, 3], _backends.Select(b => b.Threads));
        Assert.Contains("3 threads", _backends[2].Name);
        Assert.Equal(Environment.ProcessorCount, new CpuBackend().Threads);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new CpuBackend(0));
        Assert.Contains("threads", e.Message);
    }

    [Property(MaxTest = 6)]
    public void Matmul_is_bit_identical_on_1_2_and_3_threads(bool transposeA, bool transposeB, bool betaOne, int seed)
    {
        var rng = new Random(seed);
        // Shapes past the serial threshold, narrow and wide, batched and single, with ragged edges.
        int batch = rng.Next(3) == 0 ? 1 + rng.Next(4) : 1;
        int m = 20 + rng.Next(300), n = 20 + rng.Next(300), k = 20 + rng.Next(600);
        var a = Numerics.RandomFloats(rng, batch * m * k);
        var b = Numerics.RandomFloats(rng, batch * k * n);
        var c0 = Numerics.RandomFloats(rng, batch * m * n);
        float beta = betaOne ? 1f : 0f;
        AssertSameBits($"Matmul {batch}x{m}x{n}x{k} tA={transposeA} tB={transposeB} β={beta}, seed {seed}", be =>
        {
            using var da = be.Upload<float>(a);
            using var db = be.Upload<float>(b);
            using var dc = be.Upload<float>(c0);
            be.Matmul(da, db, dc, batch, m, n, k, transposeA, transposeB, alpha: 0.75f, beta: beta);
            return [dc.ToArray()];
        });
    }

    [Property(MaxTest = 4)]
    public void Row_kernels_are_bit_identical_on_1_2_and_3_threads(int seed)
    {
        var rng = new Random(seed);
        int rows = 64 + rng.Next(200), cols = 33 + rng.Next(900);
        var x = Numerics.RandomFloats(rng, rows * cols, 4f);
        var dy = Numerics.RandomFloats(rng, rows * cols);
        var gamma = Numerics.RandomFloats(rng, cols);
        var bias = Numerics.RandomFloats(rng, cols);
        AssertSameBits($"softmax/layernorm/activation/reductions ({rows}, {cols}), seed {seed}", be =>
        {
            using var bx = be.Upload<float>(x);
            using var bdy = be.Upload<float>(dy);
            using var bg = be.Upload<float>(gamma);
            using var bb = be.Upload<float>(bias);
            using var y = be.Full(rows * cols, 0f);
            using var ly = be.Full(rows * cols, 0f);
            using var dx = be.Full(rows * cols, 0f);
            using var ldx = be.Full(rows * cols, 0f);
            be.SoftmaxForward(bx, rows, cols, y);
            be.SoftmaxBackward(y, bdy, rows, cols, dx);
            be.LogSoftmaxForward(bx, rows, cols, ly);
            be.LogSoftmaxBackward(ly, bdy, rows, cols, ldx);
            using var n = be.Full(rows * cols, 0f);
            using var mean = be.Full(rows, 0f);
            using var rstd = be.Full(rows, 0f);
            using var ndx = be.Full(rows * cols, 0f);
            be.LayerNormForward(bx, bg, bb, rows, cols, 1e-5f, n, mean, rstd);
            be.LayerNormBackward(bx, bg, mean, rstd, bdy, rows, cols, ndx, null, null);
            using var g = be.Full(rows * cols, 0f);
            using var gdx = be.Full(rows * cols, 0f);
            be.BiasActivationForward(bx, bb, rows, cols, Activation.GeluTanh, g);
            be.BiasActivationBackward(bx, bb, bdy, rows, cols, Activation.GeluTanh, gdx, null);
            using var sum = be.Full(1, 0f);
            using var sumRows = be.Full(cols, 0f);
            using var sumCols = be.Full(rows, 0f);
            be.Sum(bx, sum);
            be.SumRows(bx, rows, cols, sumRows, accumulate: false);
            be.SumCols(bx, rows, cols, sumCols, accumulate: false);
            return [y.ToArray(), dx.ToArray(), ly.ToArray(), ldx.ToArray(), n.ToArray(), mean.ToArray(), rstd.ToArray(),
                ndx.ToArray(), g.ToArray(), gdx.ToArray(), sum.ToArray(), sumRows.ToArray(), sumCols.ToArray()];
        });
    }

    [Property(MaxTest = 4)]
    public void Parameter_gradients_with_per_thread_partials_repeat_bit_for_bit_on_each_thread_count(int seed)
    {
        var rng = new Random(seed);
        int rows = 64 + rng.Next(300), cols = 33 + rng.Next(700);
        var x = Numerics.RandomFloats(rng, rows * cols, 3f);
        var dy = Numerics.RandomFloats(rng, rows * cols);
        var gamma = Numerics.RandomFloats(rng, cols);
        foreach (var be in _backends)
        {
            float[][] Run()
            {
                using var bx = be.Upload<float>(x);
                using var bdy = be.Upload<float>(dy);
                using var bg = be.Upload<float>(gamma);
                using var y = be.Full(rows * cols, 0f);
                using var mean = be.Full(rows, 0f);
                using var rstd = be.Full(rows, 0f);
                using var dx = be.Full(rows * cols, 0f);
                using var dg = be.Full(cols, 0f);
                using var dbeta = be.Full(cols, 0f);
                using var gdx = be.Full(rows * cols, 0f);
                using var db = be.Full(cols, 0f);
                be.LayerNormForward(bx, bg, bg, rows, cols, 1e-5f, y, mean, rstd);
                be.LayerNormBackward(bx, bg, mean, rstd, bdy, rows, cols, dx, dg, dbeta);
                be.BiasActivationBackward(bx, bg, bdy, rows, cols, Activation.GeluTanh, gdx, db);
                return [dg.ToArray(), dbeta.ToArray(), db.ToArray()];
            }
            var first = Run();
            var second = Run();
            for (int o = 0; o < first.Length; o++)
            {
                Numerics.AssertBits(first[o], second[o], $"output {o} on {be.Name}, ({rows}, {cols}), seed {seed}");
            }
        }
    }

    [Property(MaxTest = 4)]
    public void Attention_cross_entropy_embedding_modulation_and_rope_are_bit_identical_on_1_2_and_3_threads(int seed)
    {
        var rng = new Random(seed);
        int batch = 1 + rng.Next(3), heads = 1 + rng.Next(4), tokens = 16 + rng.Next(150), headDim = 8 * (1 + rng.Next(8));
        var mask = (AttentionMask)rng.Next(4);
        int qkv = batch * heads * tokens * headDim;
        var q = Numerics.RandomFloats(rng, qkv);
        var k = Numerics.RandomFloats(rng, qkv);
        var v = Numerics.RandomFloats(rng, qkv);
        var dO = Numerics.RandomFloats(rng, qkv);
        var valid = Enumerable.Range(0, batch).Select(_ => rng.Next(tokens + 1)).ToArray();
        int rows = batch * tokens, vocab = 20 + rng.Next(300), hidden = heads * headDim;
        var logits = Numerics.RandomFloats(rng, rows * vocab, 5f);
        var targets = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab - 1)).ToArray();
        var noisy = Enumerable.Range(0, rows).Select(_ => rng.Next(2) == 0 ? vocab - 1 : rng.Next(vocab - 1)).ToArray();
        var weights = Numerics.RandomFloats(rng, rows);
        var dloss = Numerics.RandomFloats(rng, rows);
        var table = Numerics.RandomFloats(rng, vocab * hidden);
        var shift = Numerics.RandomFloats(rng, batch * hidden);
        var scale = Numerics.RandomFloats(rng, batch * hidden);
        var x = Numerics.RandomFloats(rng, rows * hidden);
        AssertSameBits($"attention {batch}x{heads}x{tokens}x{headDim} {mask}, vocab {vocab}, seed {seed}", be =>
        {
            using var bq = be.Upload<float>(q);
            using var bk = be.Upload<float>(k);
            using var bv = be.Upload<float>(v);
            using var bdo = be.Upload<float>(dO);
            using var bvalid = be.Upload<int>(valid);
            var lengths = (mask & AttentionMask.KeyPadding) != 0 ? bvalid : null;
            using var o = be.Full(qkv, 0f);
            using var lse = be.Full(batch * heads * tokens, 0f);
            using var dq = be.Full(qkv, 0f);
            using var dk = be.Full(qkv, 0f);
            using var dv = be.Full(qkv, 0f);
            be.AttentionForward(bq, bk, bv, lengths, batch, heads, tokens, headDim, mask, o, lse);
            be.AttentionBackward(bq, bk, bv, o, lse, bdo, lengths, batch, heads, tokens, headDim, mask, dq, dk, dv);
            using var bl = be.Upload<float>(logits);
            using var bt = be.Upload<int>(targets);
            using var bn = be.Upload<int>(noisy);
            using var bw = be.Upload<float>(weights);
            using var bd = be.Upload<float>(dloss);
            using var loss = be.Full(rows, 0f);
            using var dl = be.Full(rows * vocab, 0f);
            be.SubsCrossEntropyForward(bl, bt, bn, bw, rows, vocab, loss);
            be.SubsCrossEntropyBackward(bl, bt, bn, bw, bd, rows, vocab, dl);
            using var btable = be.Upload<float>(table);
            using var emb = be.Full(rows * hidden, 0f);
            using var dtable = be.Full(vocab * hidden, 0f);
            be.EmbeddingForward(bt, btable, rows, vocab, hidden, emb);
            be.EmbeddingBackward(bt, emb, rows, vocab, hidden, dtable);
            using var bx = be.Upload<float>(x);
            using var bs = be.Upload<float>(shift);
            using var bsc = be.Upload<float>(scale);
            using var my = be.Full(rows * hidden, 0f);
            using var mdx = be.Full(rows * hidden, 0f);
            using var mds = be.Full(batch * hidden, 0f);
            using var mdsc = be.Full(batch * hidden, 0f);
            be.ModulateForward(bx, bs, bsc, batch, tokens, hidden, my);
            be.ModulateBackward(bx, bsc, my, batch, tokens, hidden, mdx, mds, mdsc);
            using var r = be.Full(qkv, 0f);
            be.RopeForward(bq, batch, heads, tokens, headDim, 10000f, r);
            return [o.ToArray(), lse.ToArray(), dq.ToArray(), dk.ToArray(), dv.ToArray(), loss.ToArray(), dl.ToArray(),
                emb.ToArray(), dtable.ToArray(), my.ToArray(), mdx.ToArray(), mds.ToArray(), mdsc.ToArray(), r.ToArray()];
        });
    }

    [Property(MaxTest = 5)]
    public void Large_fills_cover_every_element_on_each_thread_count(int seed)
    {
        var rng = new Random(seed);
        int n = 40_000 + rng.Next(200_000);
        float value = (float)rng.NextDouble();
        foreach (var be in _backends)
        {
            using var buffer = be.Full(n, float.NaN);
            buffer.Fill(value);
            using var ints = be.Full(n, -1);
            ints.Fill(seed);
            Numerics.AssertBits(Enumerable.Repeat(value, n).ToArray(), buffer.ToArray(), $"Fill({value}) of {n} on {be.Name}");
            Assert.All(ints.ToArray(), v => Assert.Equal(seed, v));
        }
    }

    [Fact]
    public void A_kernel_called_from_several_threads_on_one_backend_still_gives_the_one_thread_bits()
    {
        // Concurrent callers share the pool: one gets the workers, the others run the same chunks inline.
        var rng = new Random(5);
        int m = 160, n = 200, k = 300;
        var a = Numerics.RandomFloats(rng, m * k);
        var b = Numerics.RandomFloats(rng, k * n);
        float[] Run(Backend be)
        {
            using var da = be.Upload<float>(a);
            using var db = be.Upload<float>(b);
            using var dc = be.Full(m * n, 0f);
            be.Matmul(da, db, dc, 1, m, n, k);
            return dc.ToArray();
        }
        var expected = Run(_backends[0]);
        var results = new float[8][];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => results[i] = Run(_backends[2]));
        foreach (var r in results)
        {
            Numerics.AssertBits(expected, r, "concurrent matmul on a 3-thread backend vs 1 thread");
        }
    }

    private void AssertSameBits(string context, Func<Backend, float[][]> run)
    {
        var expected = run(_backends[0]);
        foreach (var be in _backends.Skip(1))
        {
            var actual = run(be);
            for (int o = 0; o < expected.Length; o++)
            {
                Numerics.AssertBits(expected[o], actual[o], $"output {o}, 1 vs {be.Threads} threads, {context}");
            }
        }
    }
}
