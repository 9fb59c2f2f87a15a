using System.Globalization;
using Lddm.Autograd;
using Lddm.Kernels;
using Lddm.Models;
using Lddm.Training.Engine;

namespace Lddm.Training.Ar;

/// <summary>
/// The autoregressive baseline and judge as an <see cref="ITrainableModel"/> (kind "ar"): a
/// <see cref="CausalTransformer"/> over K real tokens plus BOS (id K, the MASK id of the diffusion models). The network
/// reads [BOS, x₀ … x_{L−2}] and predicts x₀ … x_{L−1}; the loss is the mean next-token cross-entropy over all B·L
/// positions, which is also the exact NLL per token. Generation is ancestral, left to right, one network call per
/// position (no KV cache), so NFE = L whatever the step count asked for.
/// </summary>
public sealed class ArModel : ITrainableModel
{
    private const ulong Stream = 0x61726761; // "arga"
    private readonly (string Name, Parameter Parameter)[] _parameters;

    public ArModel(CausalTransformer network)
    {
        ArgumentNullException.ThrowIfNull(network);
        Model = network;
        _parameters = [.. network.NamedParameters()];
    }

    public string Kind => "ar";

    public CausalTransformer Model { get; }

    public Module Network => Model;

    /// <summary>K, the number of real tokens (BOS = K).</summary>
    public int Vocabulary => Model.Config.Vocab - 1;

    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters => _parameters;

    /// <summary>The causal transformer of a DiT size (hidden, layers, heads, vocabulary K + 1, length, dropout): BOS takes MASK's id.</summary>
    public static CausalConfig ModelConfig(DiTConfig size)
    {
        ArgumentNullException.ThrowIfNull(size);
        return new CausalConfig(size.Hidden, size.Layers, size.Heads, size.Vocab, size.MaxLength, size.Dropout);
    }

    /// <summary>A freshly initialised AR model of <paramref name="network"/>'s size, seeded by <paramref name="seed"/>.</summary>
    public static ArModel Create(Backend backend, CausalConfig network, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var model = new CausalTransformer(backend, network);
        model.Initialize(seed);
        return new ArModel(model);
    }

    /// <summary>[BOS, x₀ … x_{L−2}] per sequence: the network input whose position i predicts x_i.</summary>
    public static int[] ShiftRight(ReadOnlySpan<int> x0, int batch, int length, int bos)
    {
        var input = new int[batch * length];
        for (int b = 0; b < batch; b++)
        {
            input[b * length] = bos;
            x0.Slice(b * length, length - 1).CopyTo(input.AsSpan(b * length + 1));
        }
        return input;
    }

    /// <summary>
    /// Per-position next-token cross-entropy (B, L) of <paramref name="x0"/> under <paramref name="model"/>, on the
    /// tape (the int tensors it uploads belong to the current tape): SUBS cross-entropy with every row "masked" (noisy = BOS) and weight 1, so the BOS logit is excluded.
    /// </summary>
    public static Tensor TokenNll(CausalTransformer model, ReadOnlySpan<int> x0, int batch, int length, DropoutRng? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        int k = model.Config.Vocab - 1;
        CheckTokens(x0, batch, length, k, model.Config.MaxLength);
        var backend = model.Backend;
        var input = IntTensor.FromArray(backend, ShiftRight(x0, batch, length, k), batch, length);
        var targets = IntTensor.FromArray(backend, x0, batch, length);
        var noisy = IntTensor.FromArray(backend, Enumerable.Repeat(k, batch * length).ToArray(), batch, length);
        var logits = model.Forward(input, dropout); // (B, L, K+1)
        var ones = Tensor.FromArray(backend, Enumerable.Repeat(1f, batch * length).ToArray(), batch, length);
        return SubsCrossEntropyOp.Apply(logits, targets, noisy, ones);
    }

    public IStepLoss Loss(int[] x0, int batch, int length, ulong seed, long step, DropoutRng? dropout)
    {
        var ce = TokenNll(Model, x0, batch, length, dropout);
        return new ArLoss(MeanOp.Apply(ce), ce);
    }

    /// <summary>
    /// Ancestral sampling left to right at temperature τ: for position i the network reads [BOS, s₀ … s_{i−1}] and
    /// s_i is drawn from softmax(logits_i[0..K)/τ) by the fused <see cref="Backend.UnmaskStep"/> in Fill mode (float64
    /// inverse CDF, counter-based uniforms: a seed gives the same tokens on every backend). <paramref name="steps"/> is
    /// not used (AR needs L calls); <paramref name="progress"/> gets the number of positions done.
    /// </summary>
    public GeneratedSamples Generate(int count, int length, int steps, ulong seed, float temperature = 1f, IProgress<int>? progress = null)
    {
        var backend = Model.Backend;
        int vocab = Model.Config.Vocab, bos = vocab - 1;
        if (count < 1 || length < 1 || length > Model.Config.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length),
                $"ArModel: {count} sequences of length {length}: need count ≥ 1 and 1 ≤ length ≤ {Model.Config.MaxLength} (the model's maximum).");
        }
        if (!(temperature > 0f) || !float.IsFinite(temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature,
                $"ArModel: temperature must be positive and finite but was {temperature.ToString(CultureInfo.InvariantCulture)}.");
        }
        var output = new int[count * length];
        var prefix = new int[count * length];
        var drawn = new int[count];
        bool training = Model.Training;
        Model.Eval();
        using var eval = Grad.Off();
        using var row = IntTensor.Empty(backend, count);
        try
        {
            for (int i = 0; i < length; i++)
            {
                for (int b = 0; b < count; b++)
                {
                    prefix[b * (i + 1)] = bos;
                    output.AsSpan(b * length, i).CopyTo(prefix.AsSpan(b * (i + 1) + 1));
                }
                using var tape = Tape.Begin();
                using var input = IntTensor.FromArray(backend, prefix.AsSpan(0, count * (i + 1)), count, i + 1);
                var logits = Model.Forward(input);                    // (count, i + 1, V)
                var last = SliceOp.Apply(logits, 1, i, 1);            // (count, 1, V)
                row.Data.CopyFrom(Enumerable.Repeat(bos, count).ToArray());
                backend.UnmaskStep(last.Data, row.Data, count, vocab, 0.0, 1.0, temperature, seed, Stream, (long)i * count, UnmaskMode.Fill);
                row.Data.CopyTo(drawn);
                for (int b = 0; b < count; b++)
                {
                    output[b * length + i] = drawn[b];
                }
                progress?.Report(i + 1);
            }
        }
        finally
        {
            if (training)
            {
                Model.Train();
            }
        }
        return new GeneratedSamples(output, length);
    }

    public void Dispose() => Model.Dispose();

    internal static void CheckTokens(ReadOnlySpan<int> x0, int batch, int length, int k, int maxLength)
    {
        if (batch <= 0 || length <= 0 || x0.Length != (long)batch * length)
        {
            throw new ArgumentException($"ArModel: {x0.Length} tokens do not form a batch of {batch} sequences of length {length}.", nameof(x0));
        }
        if (length > maxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"ArModel: length {length} exceeds the model's maximum {maxLength}.");
        }
        for (int i = 0; i < x0.Length; i++)
        {
            if ((uint)x0[i] >= (uint)k)
            {
                throw new ArgumentOutOfRangeException(nameof(x0),
                    $"ArModel: token {x0[i]} at sequence {i / length}, position {i % length} is not a real token id in [0, {k}) (BOS is {k}).");
            }
        }
    }
}

/// <summary>One AR batch's loss: the mean next-token cross-entropy, which is the exact NLL per token.</summary>
public sealed class ArLoss(Tensor loss, Tensor perPosition) : IStepLoss
{
    public Tensor Value { get; } = loss;

    /// <summary>(B, L) per-position NLL in nats.</summary>
    public Tensor PerPosition { get; } = perPosition;

    /// <summary>Mean NLL per token in nats (reads B·L floats; summed in float64).</summary>
    public double NelboPerToken()
    {
        var ce = PerPosition.ToArray();
        double sum = 0;
        foreach (float v in ce)
        {
            sum += v;
        }
        return sum / ce.Length;
    }
}
