using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models;

/// <summary>Code usage of one quantiser call.</summary>
/// <param name="Perplexity">exp(H) of the batch's code histogram: 1 when every row takes one code, C when usage is uniform.</param>
/// <param name="UsedCodes">Codes assigned to at least one row of the batch.</param>
/// <param name="DeadCodes">Codes whose EMA count is below the threshold: re-seeded by this call in training mode, only counted in eval mode.</param>
public sealed record CodeUsage(double Perplexity, int UsedCodes, int DeadCodes);

/// <summary>What <see cref="VectorQuantizer.Forward"/> returns.</summary>
/// <param name="Indices">The code of each vector, shape z's without the last axis; no gradient path (the index cuts the graph).</param>
/// <param name="Quantized">The unit code vectors with a straight-through gradient to normalise(z): value e_k, ∂/∂z as of normalise(z).</param>
/// <param name="Commitment">β·mean((normalise(z) − sg[e_k])²), shape (1): its gradient reaches z through the normalisation.</param>
public sealed record QuantizerOutput(IntTensor Indices, Tensor Quantized, Tensor Commitment, CodeUsage Usage);

/// <summary>
/// Di-LADD's vector quantiser, as the authors' cosine-similarity EMA codebook (lucidrains' CosineSimCodebook with
/// their settings): vectors z (…, D) are compared to the C unit codes by cosine similarity
/// (<see cref="Backend.NearestCode"/>); in training mode the codebook then moves by one EMA step with Laplace smoothing
/// (<see cref="Backend.CodebookEmaUpdate"/>, on the normalised vectors), and every code whose EMA count is below
/// <see cref="VectorQuantizerConfig.DeadThreshold"/> is re-seeded from a batch vector drawn without replacement
/// (with replacement when the batch is smaller than the number of dead codes): code = x̂, EMA sum = x̂·threshold,
/// EMA count = threshold. The draws are Philox(seed, <see cref="Updates"/>), so a resumed run draws what an
/// uninterrupted one would. The codebook is not a parameter (no optimiser touches it): it, the EMA sums and counts and
/// <see cref="Updates"/> are the state, registered as untrained parameters so checkpoints hold them (<see cref="NamedState"/>). Initial codes are unit Gaussian
/// directions with EMA counts 0, so the first training call re-seeds every code from the data (the authors' k-means
/// initialisation is not reproduced).
/// </summary>
public sealed class VectorQuantizer : Module
{
    private const ulong InitStream = 0x5651_0000, RestartStream = 0x5651_0001;

    public VectorQuantizer(Backend backend, VectorQuantizerConfig config, ulong seed)
        : base(backend)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Seed = seed;
        int c = config.Codes, d = config.Dim;
        Codebook = AddParameter("codebook", Init.Zeros, c, d);
        EmbedAvg = AddParameter("embed_avg", Init.Zeros, c, d);
        ClusterSize = AddParameter("cluster_size", Init.Zeros, c);
        UpdateCount = AddParameter("updates", Init.Zeros, 1);
        foreach (var (_, p) in NamedState())
        {
            p.RequiresGrad = false;
        }
        ResetState();
    }

    /// <summary>
    /// The initial state: unit Gaussian directions from <see cref="Seed"/>, EMA sums equal to them, EMA counts and
    /// <see cref="Updates"/> 0. A parent's <see cref="Module.Initialize"/> zeroes these tensors (they are registered so
    /// that checkpoints hold them): call this after it.
    /// </summary>
    public void ResetState()
    {
        int c = Config.Codes, d = Config.Dim;
        var init = new float[c * d];
        for (int i = 0; i < init.Length; i++)
        {
            init[i] = Philox.Normal(Seed, InitStream, i);
        }
        NormaliseRows(init, c, d);
        Codebook.Load(init);
        EmbedAvg.Load(init);
        ClusterSize.Data.Fill(0f);
        UpdateCount.Data.Fill(0f);
    }

    public VectorQuantizerConfig Config { get; }

    /// <summary>The seed of the initial codes and of the re-seeding draws.</summary>
    public ulong Seed { get; }

    /// <summary>(C, D) unit codes.</summary>
    public Parameter Codebook { get; }

    /// <summary>(C, D) EMA of the sums of the normalised vectors assigned to each code.</summary>
    public Parameter EmbedAvg { get; }

    /// <summary>(C) EMA of the number of vectors assigned to each code.</summary>
    public Parameter ClusterSize { get; }

    /// <summary>(1) the number of training calls so far, stored as a float (exact up to 2²⁴ calls) so checkpoints hold it.</summary>
    public Parameter UpdateCount { get; }

    /// <summary>Training calls so far: the re-seeding draws are keyed by it, so a resumed run draws what an uninterrupted one would.</summary>
    public long Updates => (long)UpdateCount.Item();

    /// <summary>
    /// The state, with its names: registered as parameters so that checkpoints save and load them bit for bit, but
    /// never trained (RequiresGrad false; an owner leaves them out of its trainable parameters, the optimizer and the EMA).
    /// </summary>
    public IEnumerable<(string Name, Parameter Tensor)> NamedState() => NamedParameters();

    /// <summary>
    /// Quantises z (…, D). In training mode the codebook state moves (EMA, re-seeding) after the assignment, as the
    /// authors' quantiser does: the returned codes and vectors are those of the codebook before the update.
    /// </summary>
    public QuantizerOutput Forward(Tensor z)
    {
        ArgumentNullException.ThrowIfNull(z);
        int c = Config.Codes, d = Config.Dim;
        if (z.Shape.Rank < 2 || z.Shape.Last != d)
        {
            throw new ArgumentException(
                $"{nameof(VectorQuantizer)}: z must be (…, {d}) with at least one leading axis but has shape {z.Shape}.", nameof(z));
        }
        int rows = z.Shape.Rows;
        var lead = z.Shape.ToArray()[..^1];
        var flat = ReshapeOp.Apply(z, rows, d);
        var ids = IntTensor.Empty(Backend, lead);
        Backend.NearestCode(flat.Data, Codebook.Data, rows, c, d, ids.Data);
        var xhat = L2NormalizeOp.Apply(flat);
        var codes = ReshapeOp.Apply(EmbeddingOp.Apply(ids, Codebook), rows, d); // a copy: the update below does not reach it
        var commitment = ScaleOp.Apply(MseOp.Apply(xhat, codes), Config.Commitment);
        var delta = Tensor.Empty(Backend, xhat.Shape); // sg[e_k − x̂]: a constant, so the sum's gradient is x̂'s
        Backend.Axpby(1f, codes.Data, 0f, delta.Data);
        Backend.Axpby(-1f, xhat.Data, 1f, delta.Data);
        var quantized = ReshapeOp.Apply(AddOp.Apply(xhat, delta), z.Shape.ToArray());
        var assigned = ids.ToArray();
        int dead;
        if (Training)
        {
            Backend.CodebookEmaUpdate(flat.Data, ids.Data, rows, c, d, Config.Decay, Config.Epsilon, ClusterSize.Data, EmbedAvg.Data,
                Codebook.Data);
            dead = RestartDeadCodes(flat.Data, rows);
            UpdateCount.Load([Updates + 1]);
        }
        else
        {
            dead = ClusterSize.ToArray().Count(s => s < Config.DeadThreshold);
        }
        return new QuantizerOutput(ids, quantized, commitment, Usage(assigned, c, dead));
    }

    /// <summary>exp(entropy) of the histogram of <paramref name="assigned"/> over C codes, and how many codes are used.</summary>
    public static CodeUsage Usage(ReadOnlySpan<int> assigned, int codes, int deadCodes)
    {
        var counts = new long[codes];
        foreach (int k in assigned)
        {
            counts[k]++;
        }
        double h = 0;
        int used = 0;
        foreach (long n in counts)
        {
            if (n > 0)
            {
                double p = (double)n / assigned.Length;
                h -= p * Math.Log(p);
                used++;
            }
        }
        return new CodeUsage(Math.Exp(h), used, deadCodes);
    }

    /// <summary>Re-seeds every code whose EMA count is below the threshold; returns how many.</summary>
    private int RestartDeadCodes(DeviceBuffer<float> flat, int rows)
    {
        if (Config.DeadThreshold <= 0f)
        {
            return 0;
        }
        int c = Config.Codes, d = Config.Dim;
        var sizes = ClusterSize.ToArray();
        var dead = Enumerable.Range(0, c).Where(k => sizes[k] < Config.DeadThreshold).ToArray();
        if (dead.Length == 0)
        {
            return 0;
        }
        var x = flat.ToArray();
        NormaliseRows(x, rows, d);
        var picks = Draw(rows, dead.Length);
        var codebook = Codebook.ToArray();
        var embedAvg = EmbedAvg.ToArray();
        float threshold = Config.DeadThreshold;
        for (int i = 0; i < dead.Length; i++)
        {
            int k = dead[i], n = picks[i];
            for (int j = 0; j < d; j++)
            {
                codebook[k * d + j] = x[n * d + j];
                embedAvg[k * d + j] = x[n * d + j] * threshold;
            }
            sizes[k] = threshold;
        }
        Codebook.Load(codebook);
        EmbedAvg.Load(embedAvg);
        ClusterSize.Load(sizes);
        return dead.Length;
    }

    /// <summary><paramref name="count"/> rows of [0, rows): distinct (partial Fisher–Yates) when rows ≥ count, else independent.</summary>
    private int[] Draw(int rows, int count)
    {
        ulong stream = RestartStream + ((ulong)Updates << 8);
        var picks = new int[count];
        if (rows >= count)
        {
            var pool = Enumerable.Range(0, rows).ToArray();
            for (int i = 0; i < count; i++)
            {
                int j = i + (int)(Philox.UniformDouble(Seed, stream, i) * (rows - i));
                (pool[i], pool[j]) = (pool[j], pool[i]);
                picks[i] = pool[i];
            }
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                picks[i] = (int)(Philox.UniformDouble(Seed, stream, i) * rows);
            }
        }
        return picks;
    }

    /// <summary>Rows to unit length in float64 (a zero row stays zero), as the kernels' normalisation.</summary>
    private static void NormaliseRows(float[] x, int rows, int d)
    {
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int j = 0; j < d; j++)
            {
                s += (double)x[r * d + j] * x[r * d + j];
            }
            double inv = QuantizeRule.InverseNorm(Math.Sqrt(s));
            for (int j = 0; j < d; j++)
            {
                x[r * d + j] = (float)(x[r * d + j] * inv);
            }
        }
    }

}
