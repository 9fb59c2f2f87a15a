using Lddm.Autograd;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Checkpoints;
using Lddm.Training.Data;
using Lddm.Training.Encoders;
using Lddm.Training.Evaluation;
using Lddm.Training.Fuji;
using Lddm.Training.Runs;
using Lddm.Training.Tests.Fuji;
using Xunit;

namespace Lddm.Training.Tests.Evaluation;

public sealed class LatentDiagnosticsTests
{
    [Fact]
    public void The_probe_recovers_a_linear_signal_at_any_scale_and_finds_nothing_in_noise()
    {
        var rng = new Random(Environment.TickCount);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        const int n = 400, d = 6;
        double noise = 0.1, tiny = 1e-4;
        // Targets are a fixed linear map of the features plus noise: R² ≈ var(signal) / (var(signal) + noise²).
        var w = Enumerable.Range(0, d).Select(_ => Gauss()).ToArray();
        (double[][] X, double[][] Y) Draw(double scale)
        {
            var x = Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, d).Select(_ => Gauss()).ToArray()).ToArray();
            var y = x.Select(r => new[] { r.Zip(w).Sum(p => p.First * p.Second) + noise * Gauss() }).ToArray();
            return ([.. x.Select(r => r.Select(v => 3 + scale * v).ToArray())], y);
        }
        double expected = w.Sum(v => v * v) / (w.Sum(v => v * v) + noise * noise);
        foreach (double scale in new[] { 1.0, tiny })
        {
            var (trainX, trainY) = Draw(scale);
            var (testX, testY) = Draw(scale);
            double r2 = LatentDiagnostics.ProbeR2(trainX, trainY, testX, testY);
            Assert.InRange(r2, expected - 0.02, 1.0);
        }
        var (constX, _) = Draw(0);
        var (_, y1) = Draw(1);
        var (_, y2) = Draw(1);
        Assert.InRange(LatentDiagnostics.ProbeR2(constX, y1, constX, y2), -0.05, 0.01);
    }

    [Fact]
    public void A_frozen_lddm_encoder_reproduces_the_saved_encoder_and_refuses_other_checkpoints()
    {
        var backend = TestBackends.Cpu;
        string dir = Path.Combine(Path.GetTempPath(), "lddm-frozen-" + Guid.NewGuid().ToString("N"));
        try
        {
            var config = new TrainConfig { Model = "fuji", Preset = "xxs", EncoderPreset = "xxs", Length = 8, LatentPatches = 2, LatentDim = 4 }.Validate();
            using var fuji = TrainingRun.Fuji(backend, config, 2);
            FujiTestModels.Randomize(fuji.Network, Environment.TickCount);
            new CheckpointStore(dir).Save(fuji.Network, null, null, new CheckpointStore.State(config.ToJson(), 1, 0, 0, config.Seed));
            using var frozen = FrozenEncoders.LoadLddm(backend, dir, 2);
            Assert.False(frozen.Trainable);
            var rng = new Random(Environment.TickCount);
            var tokens = Enumerable.Range(0, 3 * 8).Select(_ => rng.Next(2)).ToArray();
            using var tape = Tape.Begin();
            fuji.Network.Eval();
            var expected = fuji.LearnedEncoder!.Forward(IntTensor.FromArray(backend, tokens, 3, 8)).ToArray();
            var got = frozen.Encode(IntTensor.FromArray(backend, tokens, 3, 8));
            Assert.False(got.RequiresGrad);
            Assert.Equal(expected, got.ToArray());

            using var mdlm = TrainingRun.CreateModel(backend, config with { Model = "mdlm" }, 2);
            string other = dir + "-mdlm";
            new CheckpointStore(other).Save(mdlm.Network, null, null, new CheckpointStore.State((config with { Model = "mdlm" }).ToJson(), 1, 0, 0, 1));
            var e = Assert.Throws<ArgumentException>(() => FrozenEncoders.LoadLddm(backend, other, 2));
            Assert.Contains("model = mdlm", e.Message);
            Directory.Delete(other, true);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, true);
            }
        }
    }

    [Fact]
    public void Sawtooth_diagnostics_see_a_collapsed_encoder_as_carrying_nothing()
    {
        var backend = TestBackends.Cpu;
        var generator = new BinarySawtooth(new SawtoothConfig(16, 2, 0.01));
        var collapsed = new ConstantEncoder(backend);
        var report = LatentDiagnostics.Sawtooth(collapsed, backend, generator, 128, 3);
        Assert.Equal(0, report.BetweenSequenceStd, 6);
        Assert.InRange(report.ShiftR2, -0.1, 0.05);
        Assert.Equal(Math.Sqrt(collapsed.Value * collapsed.Value * collapsed.PatchDim), report.MeanPatchNorm, 5);
    }

    private sealed class ConstantEncoder(Lddm.Kernels.Backend backend) : ILatentEncoder
    {
        public float Value => 0.5f;

        public int Patches => 1;

        public int PatchDim => 4;

        public bool Trainable => false;

        public Tensor Encode(IntTensor x0, Tensor? keep = null) =>
            Tensor.FromArray(backend, Enumerable.Repeat(Value, x0.Shape[0] * PatchDim).ToArray(), x0.Shape[0], 1, PatchDim);
    }
}
