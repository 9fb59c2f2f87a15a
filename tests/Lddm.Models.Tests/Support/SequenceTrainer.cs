using Lddm.Autograd;
using Lddm.Kernels;

namespace Lddm.Models.Tests.Support;

/// <summary>
/// Trains a <see cref="DiT"/> (t = 0: no time conditioning) or a <see cref="SequenceModel"/> to map token sequences to target sequences with
/// mean cross-entropy and plain AdamW (β = (0.9, 0.999), ε = 1e-8, no weight decay, no clipping). The optimizer
/// state is allocated up front; each step's temporaries and gradients are freed before it returns.
/// </summary>
public sealed class SequenceTrainer : IDisposable
{
    private readonly Backend _backend;
    private readonly (Parameter P, DeviceBuffer<float> M, DeviceBuffer<float> V)[] _state;
    private readonly float _lr;
    private int _step;

    private readonly Func<IntTensor, Tensor> _forward;

    public SequenceTrainer(Backend backend, DiTConfig config, ulong seed, float learningRate, bool withPositions = false)
    {
        _backend = backend;
        _lr = learningRate;
        if (withPositions)
        {
            var model = new SequenceModel(backend, config);
            (Model, _forward) = (model, model.Forward);
        }
        else
        {
            var model = new DiT(backend, config);
            (Model, _forward) = (model, ids => model.Forward(ids, new float[ids.Shape[0]]));
        }
        Model.Initialize(seed);
        _state = [.. Model.Parameters().Select(p => (p, backend.Full(p.Shape.Elements, 0f), backend.Full(p.Shape.Elements, 0f)))];
    }

    public Module Model { get; }

    /// <summary>One step on inputs and targets (batch, tokens) row-major; returns the loss before the update.</summary>
    public float Step(int[] inputs, int[] targets, int batch, int tokens)
    {
        float value;
        using (var tape = Tape.Begin())
        {
            var logits = _forward(IntTensor.FromArray(_backend, inputs, batch, tokens));
            var loss = CrossEntropy(logits, targets);
            value = loss.Item();
            loss.Backward();
            _step++;
            foreach (var (p, m, v) in _state)
            {
                if (p.Grad is { } g)
                {
                    _backend.AdamWStep(p.Data, g.Data, m, v, new AdamWParameters(_lr, 0.9f, 0.999f, 1e-8f, 0f, _step));
                }
            }
        }
        Model.ZeroGrad();
        return value;
    }

    /// <summary>−(1/N) Σ_rows log softmax(logits)[target], as log-softmax · one-hot summed.</summary>
    private static Tensor CrossEntropy(Tensor logits, int[] targets)
    {
        int vocab = logits.Shape.Last, rows = logits.Shape.Rows;
        var oneHot = new float[rows * vocab];
        for (int r = 0; r < rows; r++)
        {
            oneHot[r * vocab + targets[r]] = 1f;
        }
        var picked = MulOp.Apply(LogSoftmaxOp.Apply(logits), Tensor.FromArray(logits.Backend, oneHot, [.. logits.Shape]));
        return ScaleOp.Apply(SumOp.Apply(picked), -1f / rows);
    }

    public void Dispose()
    {
        foreach (var (_, m, v) in _state)
        {
            m.Dispose();
            v.Dispose();
        }
        Model.Dispose();
    }
}
