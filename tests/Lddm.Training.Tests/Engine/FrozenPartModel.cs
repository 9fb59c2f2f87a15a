using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Engine;

namespace Lddm.Training.Tests.Engine;

/// <summary>
/// A test double with a trained part "a" (width×3), a frozen part "f" (width×3) and, optionally, a trained "prior"
/// (3): loss = Σ a⊙f / 3w + Σ prior², so both a and f receive gradients and only a (and prior) may change.
/// </summary>
internal sealed class FrozenPartModel : ITrainableModel
{
    private sealed class Net : Module
    {
        public Net(Backend backend, int width, bool prior) : base(backend)
        {
            A = AddParameter("a", Init.Normal(1f), width, 3);
            F = AddParameter("f", Init.Normal(1f), width, 3);
            Prior = prior ? AddParameter("prior", Init.Uniform(1f), 3) : null;
        }

        public Parameter A { get; }

        public Parameter F { get; }

        public Parameter? Prior { get; }
    }

    private sealed class Loss_(Tensor value) : IStepLoss
    {
        public Tensor Value { get; } = value;

        public double NelboPerToken() => Value.Item();
    }

    private readonly Net _net;

    public FrozenPartModel(Backend backend, int width, bool prior = false, ulong seed = 1)
    {
        _net = new Net(backend, width, prior);
        _net.Initialize(seed);
        TrainableParameters = _net.NamedParameters().Where(np => np.Name != "f").ToList();
    }

    public string Kind => "seq";

    public Module Network => _net;

    public Parameter A => _net.A;

    public Parameter F => _net.F;

    public Parameter? Prior => _net.Prior;

    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters { get; }

    public IStepLoss Loss(int[] x0, int batch, int length, ulong seed, long step, DropoutRng? dropout)
    {
        var loss = ScaleOp.Apply(SumOp.Apply(MulOp.Apply(_net.A, _net.F)), 1f / _net.A.Shape.Elements);
        if (_net.Prior is { } prior)
        {
            loss = AddOp.Apply(loss, SumOp.Apply(MulOp.Apply(prior, prior)));
        }
        return new Loss_(loss);
    }

    /// <summary>All-zero tokens: this double has no sampler (the trainer never samples).</summary>
    public GeneratedSamples Generate(int count, int length, int steps, ulong seed, float temperature = 1f, IProgress<int>? progress = null) =>
        new(new int[count * length], 0);

    public void Dispose() => _net.Dispose();
}
