using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.DiLadd;
using Lddm.Training.Encoders;
using Lddm.Training.Mdlm;
using Lddm.Training.Tests.Fuji;

namespace Lddm.Training.Tests.DiLadd;

/// <summary>
/// A frozen test encoder with a parameter on the tape: patch p of a sequence is row (Σ of its chunk's tokens·K^j) mod R
/// of a (R, d) table, looked up by <see cref="EmbeddingOp"/> so a gradient could reach the table if anything carried one.
/// </summary>
internal sealed class TableEncoder : Module, ILatentEncoder
{
    public TableEncoder(Backend backend, int k, int rows, int patches, int dim, ulong seed)
        : base(backend)
    {
        K = k;
        Patches = patches;
        PatchDim = dim;
        Table = AddParameter("table", Init.Normal(1f), rows, dim);
        Initialize(seed);
    }

    public int K { get; }

    public Parameter Table { get; }

    public int Patches { get; }

    public int PatchDim { get; }

    public bool Trainable => false;

    public Tensor Encode(IntTensor x0, Tensor? keep = null)
    {
        var host = x0.ToArray();
        int batch = x0.Shape[0], length = x0.Shape[1], chunk = length / Patches, rows = Table.Shape[0];
        var ids = new int[batch * Patches];
        for (int b = 0; b < batch; b++)
        {
            for (int p = 0; p < Patches; p++)
            {
                long id = 0;
                for (int j = 0; j < chunk; j++)
                {
                    id = id * K + host[b * length + p * chunk + j];
                }
                ids[b * Patches + p] = (int)(id % rows);
            }
        }
        return EmbeddingOp.Apply(IntTensor.FromArray(Backend, ids, batch, Patches), Table);
    }
}

/// <summary>Tiny Di-LADD models (h = 16, one block) over <see cref="TableEncoder"/>.</summary>
internal static class DiLaddTestModels
{
    public const int K = FujiTestModels.K, L = FujiTestModels.L, P = FujiTestModels.P, D = FujiTestModels.D, C = 5;

    public static DiLaddOptions Options(int codes = C, bool elbo = true, int stage = -1, bool independent = true, ulong seed = 3) =>
        new(new MdlmOptions(ElboWeighting: elbo), codes, Stage: stage, IndependentTimes: independent, Seed: seed);

    /// <summary>A model with every denoiser parameter random in ±0.4 (so the zero-initialised heads give non-trivial logits).</summary>
    public static DiLaddModel Create(Backend backend, DiLaddOptions options, TableEncoder encoder, int length = L, int seed = 7)
    {
        var model = DiLaddModel.Create(backend, options, new MmDiTConfig(16, 1, 2, 8, encoder.K + 1, length, encoder.Patches, encoder.PatchDim), encoder);
        FujiTestModels.Randomize(model.Denoiser, seed);
        return model;
    }
}
