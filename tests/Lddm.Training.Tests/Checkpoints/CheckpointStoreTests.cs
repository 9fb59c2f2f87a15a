using System.Text.Json.Nodes;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Kernels.Tests.Support;
using Lddm.Training.Checkpoints;
using Lddm.Training.Optim;
using Xunit;

namespace Lddm.Training.Tests.Checkpoints;

public sealed class CheckpointStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lddm-ckpt-").FullName;

    private sealed class Net : Module
    {
        public Net(Backend backend, int width) : base(backend)
        {
            AddParameter("w", Init.Normal(1f), width, 3);
            AddParameter("b", Init.Uniform(1f), 3);
        }
    }

    private static JsonObject Config(int width) => new() { ["model"] = new JsonObject { ["width"] = width, ["kind"] = "test" }, ["lr"] = 1e-3 };

    [Theory]
    [MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void A_round_trip_restores_weights_ema_and_optimizer_bit_for_bit(string name)
    {
        var backend = TestBackends.Get(name);
        using var net = new Net(backend, 4);
        net.Initialize(1);
        using var opt = new AdamW(net.NamedParameters(), new AdamWConfig());
        using var ema = new Ema(net.NamedParameters(), 0.9);
        using (var tape = Tape.Begin())
        {
            SumOp.Apply(MulOp.Apply(net.Parameters().First(), net.Parameters().First())).Backward();
            opt.Step(0.1);
        }
        ema.Update();
        var store = new CheckpointStore(_dir);
        store.Save(net, opt, ema, new CheckpointStore.State(Config(4), 7, opt.StepCount, ema.Updates, 42));

        using var net2 = new Net(backend, 4);
        using var opt2 = new AdamW(net2.NamedParameters(), new AdamWConfig());
        using var ema2 = new Ema(net2.NamedParameters(), 0.9);
        var state = store.Load(net2, opt2, ema2, Config(4));
        Assert.Equal((7, 1, 1, 42UL), (state.Step, opt2.StepCount, ema2.Updates, state.Seed));
        foreach (var ((_, a), (_, b)) in net.NamedParameters().Zip(net2.NamedParameters()))
        {
            Assert.Equal(a.ToArray(), b.ToArray());
        }
        foreach (var ((_, m1, v1), (_, m2, v2)) in opt.State().Zip(opt2.State()))
        {
            Assert.Equal(m1.ToArray(), m2.ToArray());
            Assert.Equal(v1.ToArray(), v2.ToArray());
        }
        foreach (var ((_, s1), (_, s2)) in ema.State().Zip(ema2.State()))
        {
            Assert.Equal(s1.ToArray(), s2.ToArray());
        }
    }

    [Fact]
    public void A_model_of_another_shape_is_refused_naming_the_tensor_and_both_shapes()
    {
        using var net = new Net(TestBackends.Cpu, 4);
        var store = new CheckpointStore(_dir);
        store.Save(net, null, null, new CheckpointStore.State(Config(4), 1, 0, 0, 1));
        using var other = new Net(TestBackends.Cpu, 5);
        var e = Assert.Throws<InvalidDataException>(() => store.Load(other));
        Assert.Contains("'w' has shape (4, 3) but the model needs (5, 3)", e.Message);
    }

    [Fact]
    public void A_config_mismatch_lists_every_differing_field()
    {
        using var net = new Net(TestBackends.Cpu, 4);
        var store = new CheckpointStore(_dir);
        store.Save(net, null, null, new CheckpointStore.State(Config(4), 1, 0, 0, 1));
        var expected = Config(4);
        expected["lr"] = 2e-3;
        expected["model"]!["kind"] = "other";
        var e = Assert.Throws<InvalidDataException>(() => store.Load(net, expectedConfig: expected));
        Assert.Contains("lr: checkpoint has 0.001, this run has 0.002", e.Message);
        Assert.Contains("model.kind", e.Message);
    }

    [Fact]
    public void A_truncated_weight_file_or_a_missing_checkpoint_gives_a_clear_error()
    {
        using var net = new Net(TestBackends.Cpu, 4);
        var store = new CheckpointStore(_dir);
        Assert.Contains("No checkpoint", Assert.Throws<FileNotFoundException>(() => store.Load(net)).Message);
        string snapshot = store.Save(net, null, null, new CheckpointStore.State(Config(4), 1, 0, 0, 1));
        string weights = Path.Combine(snapshot, "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length - 5)]);
        var e = Assert.Throws<InvalidDataException>(() => store.Load(net));
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void An_interrupted_save_leaves_the_previous_snapshot_in_charge_and_old_ones_are_pruned()
    {
        using var net = new Net(TestBackends.Cpu, 4);
        net.Initialize(3);
        var store = new CheckpointStore(_dir);
        for (int step = 1; step <= 3; step++)
        {
            store.Save(net, null, null, new CheckpointStore.State(Config(4), step, 0, 0, 1));
        }
        Assert.Equal(2, Directory.GetDirectories(_dir, "step-*").Length);
        // A save that died after writing some of step 4's files but before the pointer moved.
        Directory.CreateDirectory(Path.Combine(_dir, "step-00000004"));
        File.WriteAllText(Path.Combine(_dir, "step-00000004", "model.safetensors"), "torn");
        using var net2 = new Net(TestBackends.Cpu, 4);
        Assert.Equal(3, store.Load(net2).Step);
        Assert.Equal(net.Parameters().First().ToArray(), net2.Parameters().First().ToArray());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
