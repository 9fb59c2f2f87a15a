using Lddm.Kernels.Tests.Support;
using Lddm.Models;
using Lddm.Training.Data;
using Lddm.Training.Encoders;
using Lddm.Training.Evaluation;
using Lddm.Training.Runs;
using Lddm.Training.Seq;
using Lddm.Training.Tests.Fuji;
using Xunit;

namespace Lddm.Training.Tests.Evaluation;

/// <summary>SEQ prior diagnostics: a prior that always returns the same latent must show as non-covering and off the data.</summary>
public sealed class SeqPriorDiagnosticsTests
{
    [Fact]
    public void A_collapsed_prior_shows_non_coverage_while_real_latents_sit_on_the_reference_set()
    {
        const int l = 12, p = 1, d = 4, count = 64;
        var data = new SawtoothData(new SawtoothConfig(l, 2, 0.05));
        var config = new TrainConfig { Model = "seq", Data = "sawtooth", Length = l, Stage = 2, LatentPatches = p, LatentDim = d, Seed = 3 }.Validate();
        using var model = SeqModel.Create(TestBackends.Cpu, RunOptions.Seq(config), new MmDiTConfig(16, 1, 2, 8, 3, l, p, d),
            new DiTEncoderConfig(16, 1, 2, 8, 3, l, p, d), new LatentDiTConfig(16, 1, 2, 8, p, d));
        FujiTestModels.Randomize(model.LearnedEncoder!, Environment.TickCount & 0xFFFF, 0.8f);
        FujiTestModels.Randomize(model.Decoder, 5);
        // The prior's zero-initialised output layer makes ŷ₀ = 0 for every sample: one latent, one phase.
        model.Network.Eval();
        var evaluation = new SawtoothEvaluation(data, count, (ulong)Environment.TickCount);
        var r = SeqPriorDiagnostics.Sawtooth(model, data, evaluation, steps: 3, batch: 16, seed: 9, references: 256);

        Assert.True(r.PriorPhase.ChiSquareP < 1e-6, $"collapsed prior: phase χ² p = {r.PriorPhase.ChiSquareP}");
        Assert.True(r.RealDistance < r.PriorDistance, $"real latents {r.RealDistance} vs the collapsed prior's {r.PriorDistance}");
        Assert.Equal(count, r.PriorPhase.Count);
        Assert.All(new[] { SawtoothEvaluation.Nll, SawtoothEvaluation.NllSd, SawtoothEvaluation.ShiftChiSquareP },
            m => Assert.True(double.IsFinite(r.Oracle.Single(x => x.Metric == m).Mean), m));
        Assert.All(r.Oracle, x => Assert.Equal(3, x.Steps));
    }
}
